using Kiln.IO;
using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Registry.Records;
using Kiln.Registry.Store;
using Kiln.Registry.Workspace;
using Kiln.Runs;

namespace Kiln.Registry.Indexing;

/// <summary>
/// Reads a run directory's files into a <see cref="RunRecord"/>: <c>kiln.run.json</c> (through <see cref="RunState"/>,
/// so a killed run reads as interrupted), and what the trainer reported through the SDK — <c>kiln.model.json</c>,
/// <c>kiln.params.json</c>, <c>kiln.result.json</c>, <c>weights.safetensors</c> — the code snapshot
/// (<c>kiln.snapshot.json</c>) and, for a cfg-tree trial, <c>kiln.trial.json</c>. A file that cannot be read is reported
/// as a problem and leaves its fields empty; it never hides the rest of the run.
/// </summary>
public static class RunIndexer
{
    /// <summary>The status of a cfg-tree trial that has not run yet.</summary>
    public const string Pending = "pending";

    /// <summary>The status of a run whose <c>kiln.run.json</c> cannot be read.</summary>
    public const string Unknown = "unknown";

    /// <summary>The run in <paramref name="runDir"/>, or null when the folder holds no run.</summary>
    public static RunRecord? Read(WorkspacePaths workspace, string runDir, TimeProvider? time = null) =>
        Read(workspace, runDir, [], time);

    /// <summary>As <see cref="Read(WorkspacePaths, string, TimeProvider?)"/>; files that cannot be read are added to <paramref name="problems"/>.</summary>
    public static RunRecord? Read(WorkspacePaths workspace, string runDir, ICollection<string> problems, TimeProvider? time = null)
    {
        var dir = Path.GetFullPath(runDir, workspace.Root);
        var files = new RunFiles(dir);
        if (!Directory.Exists(dir)) return null;

        RunState.TryRead(dir, out var info, out var runError, time);
        if (runError is not null) problems.Add(runError);
        var trial = ReadObject(files, RunFiles.Trial, problems);
        var model = ReadObject(files, RunFiles.Model, problems);
        if (info is null && runError is null && trial is null && model is null) return null;

        var parameters = ReadObject(files, RunFiles.Params, problems);
        var resultPath = Path.Combine(dir, RunFiles.TrialResult);
        var result = ReadObject(files, RunFiles.TrialResult, problems);
        var snapshot = ReadObject(files, RunFiles.Snapshot, problems);
        var weights = Path.Combine(dir, RunFiles.Weights);

        return new RunRecord
        {
            Id = RunIds.For(workspace, dir),
            Kind = info?.Kind ?? (trial is not null ? RunKinds.Trial : "run"),
            Dir = RunIds.RelativeDir(workspace, dir),
            Status = info?.Status ?? (runError is not null ? Unknown : trial is not null ? Pending : Unknown),
            Start = info?.Start,
            End = info?.End,
            Host = info?.Host,
            Config = info?.Config,
            Params = parameters ?? info?.Params,
            Swept = trial?["swept"] as JsonObject is { } swept ? (JsonObject)swept.DeepClone() : null,
            Metrics = info?.Metrics,
            Fingerprint = Text(model, "fingerprint", files, RunFiles.Model, problems),
            ArchitectureSummary = Text(model, "summary", files, RunFiles.Model, problems),
            // A model is what a run that completed saved: weights beside a run that failed, stopped or was killed (a
            // program that outlived its kiln may still write them) are not a model.
            Weights = File.Exists(weights) && (info is null || info.Status == RunInfo.Completed) ? RunIds.RelativeDir(workspace, weights) : null,
            TrialResult = result,
            TrialledAt = result is null ? null : new DateTimeOffset(File.GetLastWriteTimeUtc(resultPath)).ToUnixTimeMilliseconds() / 1000.0,
            GitCommit = Text(snapshot, "commit", files, RunFiles.Snapshot, problems) ?? info?.GitCommit,
            Dirty = Flag(snapshot, "dirty", files, problems),
            SnapshotRef = Text(snapshot, "ref", files, RunFiles.Snapshot, problems),
            Error = info?.Error ?? (runError is not null ? $"cannot read {RunFiles.Run}: {runError}" : null),
        };
    }

    /// <summary>
    /// Reads the run in <paramref name="runDir"/> and records it (what <c>kiln train</c> calls when its child reported,
    /// and when it ended); returns the record, or null when the folder holds no run. A run whose id another folder's
    /// run holds is recorded under <see cref="RunIds.Fallback"/>.
    /// </summary>
    public static RunRecord? Record(WorkspacePaths workspace, RegistryDb db, string runDir, TimeProvider? time = null)
    {
        if (Read(workspace, runDir, time) is not { } record) return null;
        if (db.Get(record.Id) is { } held && held.Dir != record.Dir) record = record with { Id = RunIds.Fallback(workspace, runDir) };
        db.Upsert(record);
        return record;
    }

    /// <summary>
    /// Reads every run the registry holds as <c>running</c> afresh from its folder, and records what changed: a run whose
    /// process died since it was recorded is listed as interrupted, never as running. Returns how many changed.
    /// </summary>
    public static int RefreshRunning(WorkspacePaths workspace, RegistryDb db)
    {
        var changed = 0;
        foreach (var record in db.Query(ModelQuery.AllRuns with { Statuses = [RunInfo.Running] }))
        {
            if (Read(workspace, record.Dir) is not { } now || now.Status == RunInfo.Running) continue;
            db.Upsert(now with { Id = record.Id });
            changed++;
        }
        return changed;
    }

    /// <summary>A JSON object file of the run, or null when absent; unreadable or not an object: a problem, and null.</summary>
    private static JsonObject? ReadObject(RunFiles files, string name, ICollection<string> problems) =>
        JsonObjectFile.TryRead(Path.Combine(files.Dir, name), problems);

    private static string? Text(JsonObject? o, string key, RunFiles files, string file, ICollection<string> problems)
    {
        if (o is null) return null;
        try { return JsonValues.GetOptionalString(o, key); }
        catch (ProtocolException ex)
        {
            problems.Add($"{Path.Combine(files.Dir, file)}: {ex.Message}");
            return null;
        }
    }

    private static bool? Flag(JsonObject? o, string key, RunFiles files, ICollection<string> problems)
    {
        if (o?[key] is not { } node) return null;
        try { return JsonValues.GetBool(node, key); }
        catch (ProtocolException ex)
        {
            problems.Add($"{Path.Combine(files.Dir, RunFiles.Snapshot)}: {ex.Message}");
            return null;
        }
    }
}
