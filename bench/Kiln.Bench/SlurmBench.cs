using System.Diagnostics;
using Kiln.Execution.Jobs;
using Kiln.Execution.Slurm;

namespace Kiln.Bench;

/// <summary>
/// Submitting a 1,000-trial job array and reading the status of its 1,000 tasks, on the cluster that answers here
/// (scripts/slurm-up.sh). The tasks are submitted held (<c>sbatch --hold</c>) so none runs, and cancelled after.
/// Beside them, the way that asks Slurm once per task (<c>squeue -j &lt;task&gt;</c>), timed over 50 tasks and scaled
/// to 1,000. submitit's own way is one <c>sacct</c> call, which needs accounting this cluster does not keep.
/// </summary>
internal static class SlurmBench
{
    public static int Run(int tasks, int runs)
    {
        if (SlurmCli.Unavailable() is { } why)
        {
            Console.Error.WriteLine($"slurm: no cluster answers ({why}); bash scripts/slurm-up.sh starts one");
            return 1;
        }
        var folder = Path.Combine(Path.GetTempPath(), "kiln-bench-slurm-" + Guid.NewGuid().ToString("N")[..8]);
        var jobs = Enumerable.Range(0, tasks).Select(i => new JobSpec
        {
            Name = $"trial_{i:000}", Argv = ["/bin/true"], RunDirectory = Path.Combine(folder, "runs", $"trial_{i:000}"), WorkingDirectory = folder,
        }).ToList();
        var options = new SlurmOptions { SbatchArgs = ["--hold"] };
        var submit = new List<double>();
        var status = new List<double>();
        var perTask = new List<double>();
        try
        {
            for (var r = 0; r < runs; r++)
            {
                var slurm = new SlurmExecutor(options, Path.Combine(folder, "jobs"));
                var clock = Stopwatch.StartNew();
                var handles = slurm.Submit(jobs);
                submit.Add(clock.Elapsed.TotalSeconds);
                var arrays = slurm.Submissions.SelectMany(s => s.Arrays).Select(a => a.JobId).ToList();
                try
                {
                    var reader = new SlurmStatusReader();
                    reader.Read(arrays); // learns once whether sacct answers, as every process does
                    clock.Restart();
                    var states = reader.Read(arrays);
                    status.Add(clock.Elapsed.TotalSeconds);
                    if (handles.Count(h => states.ContainsKey(h.Id)) != tasks) throw new InvalidOperationException($"status knows {states.Count} of {tasks} tasks");
                    clock.Restart();
                    foreach (var h in handles.Take(50)) SlurmCli.Check("squeue", ["-h", "-j", h.Id, "-o", "%T"]);
                    perTask.Add(clock.Elapsed.TotalSeconds * tasks / 50.0);
                }
                finally
                {
                    SlurmCli.Check("scancel", arrays);
                    slurm.DisposeAsync().AsTask().GetAwaiter().GetResult();
                }
            }
        }
        finally
        {
            try { Directory.Delete(folder, recursive: true); }
            catch (IOException) { }
        }
        double Median(List<double> xs) => Figures.Percentile([.. xs.Order()], 50);
        Figures.Print($"slurm.submit_{tasks}_tasks", Median(submit), "s", $"median of {runs}: manifest + batch script + sbatch --array; target <= 1 s");
        Figures.Print($"slurm.status_{tasks}_tasks", Median(status), "s", $"median of {runs}: one squeue call + the jobcomp file; target <= 1 s");
        Figures.Print($"slurm.status_{tasks}_tasks_one_call_per_task", Median(perTask), "s",
            $"squeue per task (50 timed, scaled to {tasks}); ratio {Median(perTask) / Median(status):0}x");
        return 0;
    }
}
