using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Runs;

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

    /// <summary>The trial's run record, with its true status (see <see cref="RunState"/>).</summary>
    public static RunInfo? Info(string dir) => RunState.Read(dir);

    public static TrialStatus Of(string dir)
    {
        if (IsComplete(dir)) return TrialStatus.Complete;
        return Info(dir)?.Status switch
        {
            RunInfo.Running => TrialStatus.Running,
            RunInfo.Failed => TrialStatus.Failed,
            _ => TrialStatus.Pending,
        };
    }

    /// <summary>A complete trial whose configuration changed after it ran.</summary>
    public static bool IsStale(string dir, string currentCfgHash) =>
        IsComplete(dir) && Info(dir)?.Params?["cfg_sha256"] is JsonValue v && v.ToString() != currentCfgHash;
}
