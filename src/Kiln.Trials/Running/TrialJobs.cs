using Kiln.Execution.Jobs;
using Kiln.Execution.Local;
using Kiln.Kernel;
using Kiln.Protocol;
using Kiln.Trials.Expansion;

namespace Kiln.Trials.Running;

/// <summary>Trials as jobs: the worker command line an executor runs for each, or the in-process worker for library callers.</summary>
public static class TrialJobs
{
    /// <summary>
    /// <c>kiln --dir &lt;root&gt; trials worker &lt;trial&gt;</c> — a crash or a leak stays in its process. The trial's
    /// <c>batch_log.csv</c> marks it done, so a resumed submission skips it.
    /// </summary>
    public static JobSpec Worker(string kilnExecutable, string root, TrialSpec trial, int threads) => new()
    {
        Name = trial.Name,
        Argv = [kilnExecutable, "--dir", root, "--plain", "trials", "worker", trial.Dir],
        Env = new Dictionary<string, string> { ["NO_COLOR"] = "1" },
        WorkingDirectory = root,
        RunDirectory = trial.Dir,
        Threads = threads,
        DoneMarker = Path.Combine(trial.Dir, TrialPaths.BatchLog),
    };

    /// <summary>A job that runs the trial in this process (only its run directory is read).</summary>
    public static JobSpec InProcess(TrialSpec trial) => new()
    {
        Name = trial.Name,
        Argv = ["trials", "worker", trial.Dir],
        RunDirectory = trial.Dir,
        DoneMarker = Path.Combine(trial.Dir, TrialPaths.BatchLog),
    };

    /// <summary>Runs trials on threads of this process (the library's <c>run_trials</c>), <paramref name="parallelism"/> at a time.</summary>
    public static InProcessExecutor InProcessExecutor(string root, int parallelism, KernelOptions? kernel = null) =>
        new(parallelism, (job, stop) =>
        {
            try
            {
                var result = TrialWorker.Run(root, job.RunDirectory!, kernel, cancel: stop);
                return result.Status switch { RunInfo.Completed => 0, RunInfo.Stopped => 130, _ => 1 };
            }
            catch (Exception ex) when (ex is ProtocolException or IOException or UnauthorizedAccessException or InvalidDataException)
            {
                TrialFailure.Record(job.RunDirectory!, ex.Message);
                return 1;
            }
        });

    /// <summary>Threads per trial: all cores when trials run one at a time, else one each.</summary>
    public static int ThreadsPerTrial(int parallelism) => parallelism > 1 ? 1 : Math.Max(1, Environment.ProcessorCount);
}
