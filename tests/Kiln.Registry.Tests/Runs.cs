using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Registry.Tests;

/// <summary>Run directories written the way Kiln's runs, trials and trainers write them.</summary>
internal static class Runs
{
    public static string Run(string root, string relative, string kind, double start, string status = RunInfo.Completed, JsonObject? parameters = null, JsonObject? metrics = null)
    {
        var dir = Path.Combine(root, relative);
        Directory.CreateDirectory(dir);
        AtomicFile.WriteJson(Path.Combine(dir, RunFiles.Run), new RunInfo
        {
            Id = Path.GetFileName(dir), Kind = kind, Status = status, Start = start, End = status == RunInfo.Running ? null : start + 10,
            Host = Environment.MachineName, Config = "mlp", GitCommit = "abc123", Params = parameters, Metrics = metrics,
        }.ToJson());
        return dir;
    }

    /// <summary>A training that reported its architecture, its hyper-parameters and its weights (and, optionally, a trial result and a snapshot).</summary>
    public static string Trained(string root, string name, string fingerprint, JsonObject parameters, double start, JsonObject? result = null, bool snapshot = false)
    {
        var dir = Run(root, "runs/" + name, "train", start, metrics: new() { ["loss"] = 0.25 });
        AtomicFile.WriteJson(Path.Combine(dir, RunFiles.Model), new JsonObject { ["fingerprint"] = fingerprint, ["summary"] = $"Linear(4, 2) [{fingerprint}]" });
        AtomicFile.WriteJson(Path.Combine(dir, RunFiles.Params), parameters);
        File.WriteAllBytes(Path.Combine(dir, RunFiles.Weights), [1, 2, 3]);
        if (result is not null) AtomicFile.WriteJson(Path.Combine(dir, RunFiles.TrialResult), result);
        if (snapshot)
        {
            AtomicFile.WriteJson(Path.Combine(dir, RunFiles.Snapshot), new JsonObject
            {
                ["commit"] = "5eed" + name, ["ref"] = "refs/kiln/runs/" + name, ["head"] = "abc123", ["branch"] = "main", ["dirty"] = true,
            });
        }
        return dir;
    }

    /// <summary>A cfg-tree trial as <c>kiln trials expand</c> leaves it (not run yet).</summary>
    public static string PendingTrial(string root, string relative, JsonObject swept)
    {
        var dir = Path.Combine(root, relative);
        Directory.CreateDirectory(dir);
        AtomicFile.WriteJson(Path.Combine(dir, RunFiles.Trial), new JsonObject { ["swept"] = swept, ["hash"] = "x" });
        return dir;
    }
}
