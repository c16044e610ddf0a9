namespace Kiln.Execution.Jobs;

/// <summary>
/// Runs jobs somewhere — child processes on this machine, tasks of a cluster job — behind one interface: submit a
/// batch, ask where each stands, cancel, wait. Trials, queues, experiments and benchmarks submit through it; nothing
/// else starts worker processes.
/// </summary>
public interface IJobExecutor : IAsyncDisposable
{
    /// <summary><c>local</c>, <c>in-process</c>, <c>slurm</c>.</summary>
    string Kind { get; }

    /// <summary>
    /// Submits a batch (a cluster submits it as one job array). Jobs start in the order given, as slots free up;
    /// <paramref name="started"/> is told when each one starts.
    /// </summary>
    IReadOnlyList<JobHandle> Submit(IReadOnlyList<JobSpec> jobs, Action<JobHandle>? started = null);

    JobState Status(JobHandle job);

    /// <summary>Stops a job: a queued one never starts; a running one is asked to stop cleanly (SIGTERM), then killed.</summary>
    void Cancel(JobHandle job);

    /// <summary>Waits for a job to end; cancelling <paramref name="wait"/> stops the waiting, not the job.</summary>
    Task<JobResult> WaitAsync(JobHandle job, CancellationToken wait = default);
}
