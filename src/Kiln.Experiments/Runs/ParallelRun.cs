using Kiln.Execution.Jobs;
using Kiln.Execution.Local;
using Kiln.Experiments.Loading;
using Kiln.Experiments.Pipeline;
using Kiln.Registry.Workspace;

namespace Kiln.Experiments.Runs;

/// <summary>
/// <c>--parallel N</c>: the selected parameter sets split into N ranges, each run by a worker process
/// (<c>kiln experiment … --global-indices a-b --parallel-safe --no-report</c>) through an <see cref="IJobExecutor"/> — the
/// local pool here, any executor (Slurm) alike. Workers share the cache; each stage's lock keeps two from computing the
/// same result, and writes are atomic. The final run then finds the workers' results cached. A run killed part way is
/// resumed by running it again: what was cached stays cached.
/// </summary>
public static class ParallelRun
{
    /// <summary>Runs the workers; returns null when all succeeded, else why not.</summary>
    public static string? Run(ExperimentRequest request, WorkspacePaths workspace, int count, string reference, RunLog log, IJobExecutor? executor = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(workspace);
        ArgumentNullException.ThrowIfNull(log);
        if (request.GlobalIndices.Count > 0) throw new ExperimentException("--parallel splits the sets by --global-indices itself; select sets with --names or --indices instead");
        var binary = request.KilnBinary ?? throw new ExperimentException("--parallel: the kiln executable to start workers with is unknown");
        var ranges = ParamSelection.ParallelRanges(count, request.Parallel!.Value);
        if (ranges.Count < request.Parallel) log.Write(LogLevel.Warning, $"--parallel {request.Parallel}: only {ranges.Count} worker(s) have parameter sets to run");
        var jobs = ranges.Select((r, i) => new JobSpec
        {
            Name = $"{reference}_{r.Start}-{r.End}",
            Argv = [binary, .. WorkerArgs(request, r)],
            WorkingDirectory = workspace.Root,
            LogDirectory = Path.Combine(workspace.Jobs, reference, $"worker-{i}"),
        }).ToList();
        var own = executor is null ? new LocalProcessPool(new LocalPoolOptions { Parallelism = ranges.Count }) : null;
        var pool = executor ?? own!;
        try
        {
            log.Write(LogLevel.Info, $"--parallel: {jobs.Count} workers ({string.Join(", ", ranges.Select(r => $"{r.Start}-{r.End}"))})");
            var handles = pool.Submit(jobs);
            var results = handles.Select(h => pool.WaitAsync(h).GetAwaiter().GetResult()).ToList();
            var failed = results.Where(r => r.State != JobState.Completed).ToList();
            foreach (var f in failed) log.Write(LogLevel.Error, $"worker {f.Job.Spec.Name} {f.State.ToString().ToLowerInvariant()}: {f.Error ?? "(no output)"}");
            return failed.Count == 0 ? null : $"{failed.Count} of {jobs.Count} parallel workers failed: " + string.Join("; ", failed.Select(f => $"{f.Job.Spec.Name}: {f.Error ?? f.State.ToString()}"));
        }
        finally
        {
            own?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private static List<string> WorkerArgs(ExperimentRequest request, (int Start, int End) range)
    {
        var args = new List<string> { "experiment", request.Experiment };
        foreach (var p in request.Params) args.AddRange(["-p", p]);
        foreach (var n in request.Names) args.AddRange(["--names", n]);
        foreach (var i in request.Indices) args.AddRange(["--indices", i]);
        foreach (var s in request.OverwriteStages) args.AddRange(["--overwrite-stage", s]);
        if (request.Overwrite) args.Add("--overwrite");
        if (request.Cache is { } c) args.AddRange(["--cache", Path.GetFullPath(c)]);
        if (request.Prefix is { } prefix) args.AddRange(["--prefix", prefix]);
        if (request.DryCache) args.Add("--dry-cache");
        if (request.Lazy) args.Add("--lazy");
        if (request.IgnoreLazy) args.Add("--ignore-lazy");
        if (request.NoDag) args.Add("--no-dag");
        args.AddRange(["--global-indices", $"{range.Start}-{range.End}", "--parallel-safe", "--no-report", "--quiet", "--no-log"]);
        return args;
    }
}
