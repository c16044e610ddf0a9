namespace Kiln.Execution.Jobs;

/// <summary>Where a job stands.</summary>
public enum JobState
{
    /// <summary>Waiting for a free slot.</summary>
    Queued,
    Running,
    /// <summary>Exited 0, or found done before it started (its <see cref="JobSpec.DoneMarker"/> existed).</summary>
    Completed,
    /// <summary>Exited with an error; the result says why.</summary>
    Failed,
    /// <summary>Cancelled, or stopped by a signal, before it finished.</summary>
    Stopped,
}
