using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Trials;

/// <summary>Where a trial stands, read from its directory.</summary>
public enum TrialStatus
{
    /// <summary>Not run yet, or stopped or killed before it finished.</summary>
    Pending,
    /// <summary>Its process is alive.</summary>
    Running,
    /// <summary><c>batch_log.csv</c> exists.</summary>
    Complete,
    /// <summary>It ran and failed; <c>kiln.run.json</c> says why.</summary>
    Failed,
}

/// <summary>Reads a trial directory's state: complete means <c>batch_log.csv</c> exists (the trainer writes it last).</summary>
public static class TrialState
{
    public static bool IsComplete(string dir) => File.Exists(Path.Combine(dir, TrialPaths.BatchLog));

    public static RunInfo? Info(string dir)
    {
        var path = Path.Combine(dir, RunFiles.Run);
        try
        {
            return File.Exists(path) ? RunInfo.FromJson(JsonNode.Parse(File.ReadAllText(path))) : null;
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or ProtocolException or IOException)
        {
            return null;
        }
    }

    public static TrialStatus Of(string dir)
    {
        if (IsComplete(dir)) return TrialStatus.Complete;
        var info = Info(dir);
        return info?.Status switch
        {
            RunInfo.Running when info.Pid is { } pid && IsAlive(pid) => TrialStatus.Running,
            RunInfo.Failed => TrialStatus.Failed,
            _ => TrialStatus.Pending,
        };
    }

    /// <summary>A complete trial whose configuration changed after it ran.</summary>
    public static bool IsStale(string dir, string currentCfgHash) =>
        IsComplete(dir) && Info(dir)?.Params?["cfg_sha256"] is JsonValue v && v.ToString() != currentCfgHash;

    private static bool IsAlive(int pid)
    {
        if (OperatingSystem.IsLinux()) return Directory.Exists($"/proc/{pid}");
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
