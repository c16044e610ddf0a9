using Kiln.Execution.Jobs;

namespace Kiln.Execution.Local;

/// <summary>
/// Runs jobs as functions on threads of this process, <c>parallelism</c> at a time, with the pool's queue, resume and
/// cancellation — for library callers that have no executable to start (the seed's <c>run_trials</c>). The function
/// returns the job's exit code; 0 is success.
/// </summary>
public sealed class InProcessExecutor(int parallelism, Func<JobSpec, CancellationToken, int> run) : BoundedExecutor(parallelism)
{
    public override string Kind => "in-process";

    protected override Task<(JobState State, int? ExitCode, string? Error)> RunAsync(JobSpec spec, CancellationToken cancel) =>
        Task.Run(() =>
        {
            var exit = run(spec, cancel);
            if (exit == 0) return (JobState.Completed, (int?)exit, (string?)null);
            if (cancel.IsCancellationRequested) return (JobState.Stopped, exit, null);
            return (JobState.Failed, exit, $"{spec.Name}: ended with code {exit}");
        }, CancellationToken.None);
}
