using System.Text.Json.Nodes;
using Kiln.Execution.Jobs;

namespace Kiln.Execution.Slurm;

/// <summary>
/// Where one array task stands, as Slurm says it: its state word (<c>PENDING</c>, <c>RUNNING</c>, <c>COMPLETED</c>,
/// <c>FAILED</c>, <c>CANCELLED</c>, <c>TIMEOUT</c>, <c>PREEMPTED</c>, …), its exit code once it ended, and how many
/// times it was put back in the queue (requeued or preempted; 0 where the source cannot tell, as <c>sacct -X</c>).
/// </summary>
public sealed record SlurmTaskState(string State, int? ExitCode = null, int Requeues = 0)
{
    /// <summary>It went back in the queue at least once.</summary>
    public bool Requeued => Requeues > 0;

    /// <summary>A task no source knows any more (gone from the queue, with no completion record to read).</summary>
    public static readonly SlurmTaskState Unknown = new("UNKNOWN");

    /// <summary>It will not change again by itself.</summary>
    public bool Ended => Kind is JobState.Completed or JobState.Failed or JobState.Stopped;

    /// <summary>The state shown to people: <c>PENDING (requeued)</c> after a requeue, <c>RUNNING (requeued 3×)</c> after three.</summary>
    public string Shown => Requeued && !Ended ? $"{State} (requeued{(Requeues > 1 ? $" {Requeues}×" : "")})" : State;

    /// <summary>The task as <c>kiln trials status --json</c> and the dashboard give it: <c>{id, state, requeued, requeues, exit_code}</c>; a null state is one Slurm could not be asked for.</summary>
    public static JsonObject Json(string id, SlurmTaskState? state) => new()
    {
        ["id"] = id, ["state"] = state?.State, ["requeued"] = state?.Requeued, ["requeues"] = state?.Requeues, ["exit_code"] = state?.ExitCode,
    };

    public JobState Kind => State switch
    {
        "PENDING" or "REQUEUED" or "REQUEUE_HOLD" or "REQUEUE_FED" or "RESV_DEL_HOLD" or "CONFIGURING" or "SPECIAL_EXIT" or "RESIZING" => JobState.Queued,
        "RUNNING" or "COMPLETING" or "SUSPENDED" or "STOPPED" or "SIGNALING" or "STAGE_OUT" => JobState.Running,
        "COMPLETED" => JobState.Completed,
        "CANCELLED" or "PREEMPTED" or "REVOKED" => JobState.Stopped,
        "UNKNOWN" => JobState.Queued,
        _ => JobState.Failed, // FAILED, TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, BOOT_FAIL, DEADLINE
    };

    /// <summary>The state word of a Slurm tool's line: <c>CANCELLED by 0</c> is <c>CANCELLED</c>, <c>CANCELLED+</c> too.</summary>
    public static string Word(string raw)
    {
        var word = raw.Trim();
        var space = word.IndexOf(' ', StringComparison.Ordinal);
        if (space > 0) word = word[..space];
        return word.TrimEnd('+').ToUpperInvariant();
    }

    /// <summary>Slurm's <c>code:signal</c> exit field as a process exit code (a signal as 128 + n).</summary>
    public static int? ParseExit(string? field)
    {
        if (string.IsNullOrEmpty(field)) return null;
        var parts = field.Split(':');
        if (!int.TryParse(parts[0], out var code)) return null;
        if (parts.Length > 1 && int.TryParse(parts[1], out var signal) && signal > 0) return 128 + signal;
        return code;
    }
}
