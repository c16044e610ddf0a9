using Kiln.Execution.Jobs;

namespace Kiln.Execution.Local;

/// <summary>
/// One job run to its end — through the executor given (so a queue's jobs run where its others run), or a local pool
/// of its own — stopped when <c>stop</c> is cancelled, and looked at every <see cref="Tick"/> while it runs.
/// </summary>
public static class SingleJob
{
    public static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Runs <paramref name="spec"/>; <paramref name="watch"/> (when given) is called every tick and once more at the end,
    /// and stops the job by returning false. Without an executor, a pool of one with <paramref name="pool"/>'s options runs it.
    /// </summary>
    public static JobResult Run(JobSpec spec, CancellationToken stop, Func<bool>? watch = null, IJobExecutor? executor = null, LocalPoolOptions? pool = null)
    {
        var own = executor is null ? new LocalProcessPool((pool ?? new LocalPoolOptions()) with { Parallelism = 1 }) : null;
        var jobs = executor ?? own!;
        try
        {
            var handle = jobs.Submit([spec])[0];
            using var onStop = stop.Register(() => jobs.Cancel(handle));
            var done = jobs.WaitAsync(handle);
            var watching = watch is not null;
            while (!done.Wait(Tick))
            {
                if (watching && !watch!())
                {
                    watching = false;
                    jobs.Cancel(handle);
                }
            }
            watch?.Invoke(); // what the job reported in its last moments
            return done.GetAwaiter().GetResult();
        }
        finally
        {
            own?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }
}
