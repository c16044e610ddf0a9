using Kiln.Execution.Jobs;
using Kiln.Execution.Local;

namespace Kiln.Registry.Training;

/// <summary>
/// One training program run as a job in its run directory — through the executor given (so a queue runs where its
/// jobs run), or a local pool of one (its own process group, its output shown and kept in the run's logs, stopped with
/// this process) — looked at every <see cref="Tick"/> while it runs.
/// </summary>
internal static class ChildJob
{
    public static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(50);

    /// <summary>Runs <paramref name="spec"/>; <paramref name="watch"/> is called every tick and may stop the job by returning false.</summary>
    public static JobResult Run(JobSpec spec, Func<bool> watch, CancellationToken stop, IJobExecutor? executor = null)
    {
        var own = executor is null ? new LocalProcessPool(new LocalPoolOptions { Parallelism = 1 }) : null;
        var jobs = executor ?? own!;
        try
        {
            var handle = jobs.Submit([spec])[0];
            using var onStop = stop.Register(() => jobs.Cancel(handle));
            var done = jobs.WaitAsync(handle);
            var watching = true;
            while (!done.Wait(Tick))
            {
                if (watching && !watch())
                {
                    watching = false;
                    jobs.Cancel(handle);
                }
            }
            watch(); // what the program reported in its last moments
            return done.GetAwaiter().GetResult();
        }
        finally
        {
            own?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }
}
