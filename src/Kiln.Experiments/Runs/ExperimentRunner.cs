using System.Text.Json;
using System.Text.Json.Nodes;
using Kiln.Experiments.Caching;
using Kiln.Experiments.Loading;
using Kiln.Experiments.Pipeline;
using Kiln.Experiments.Reporting;
using Kiln.Registry.Records;
using Kiln.Registry.Store;
using Kiln.Registry.Workspace;

namespace Kiln.Experiments.Runs;

/// <summary>
/// <c>kiln experiment NAME -p P …</c>: compiles the experiment, selects the parameter sets, runs the pipeline (its
/// <c>--parallel</c> workers first), records the run in the registry, writes its report and, with
/// <c>--store-full</c>, a folder from which <c>--cache DIR --dry-cache</c> reproduces it. The exit code tells the truth:
/// 1 when any stage failed (curifactory exits 0).
/// </summary>
public static class ExperimentRunner
{
    /// <summary>Why a run stopped early; re-running it resumes it (what was saved stays cached).</summary>
    private const string Stopped = "stopped before it was done (asked to stop); run it again to resume";

    public static int Run(ExperimentRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var workspace = new WorkspacePaths(request.Root);
        // The registry is opened while the experiment loads (SQLite's start-up overlaps the compile cache's read), and
        // one connection serves the run's start and its end: each close checkpoints the log into the database file.
        var registry = request.WritesNothing || request.ParallelSafe || request.Hashes || request.PrintParams is not null
            ? null
            : Task.Run(() => RegistryDb.Open(workspace));
        try
        {
            return Run(request, workspace, registry);
        }
        finally
        {
            Close(registry);
        }
    }

    private static void Close(Task<RegistryDb>? registry)
    {
        if (registry is null) return;
        try
        {
            registry.GetAwaiter().GetResult().Dispose();
        }
        catch (Exception ex) when (ex is Kiln.Registry.RegistryException or IOException or UnauthorizedAccessException)
        {
            // Already said where it was needed (the run's start); nothing is open.
        }
    }

    private static int Run(ExperimentRequest request, WorkspacePaths workspace, Task<RegistryDb>? registry)
    {
        var catalog = new ExperimentCatalog(workspace.Root);
        var paramNames = request.Params.Count == 0 ? [request.Experiment] : request.Params;
        var loaded = catalog.Load(request.Experiment, paramNames);
        var files = loaded.ParamSets();
        var sets = ParamSelection.Select(files, request.Names, request.Indices, request.GlobalIndices);
        if (request.Hashes)
        {
            foreach (var s in sets) Console.Out.WriteLine($"{s.Hash} {s.Name}");
            return 0;
        }
        if (request.PrintParams is { } which)
        {
            PrintParams(sets, which);
            return 0;
        }
        var started = DateTimeOffset.UtcNow;
        var cache = request.Cache is null ? workspace.Cache : Path.GetFullPath(request.Cache);
        var record = registry is null ? null : Begin(request, workspace, registry.GetAwaiter().GetResult(), files, started);
        var reference = record?.Reference ?? $"{request.Experiment}_{(request.ParallelSafe ? "worker" : "dry")}_{started:yyyy-MM-dd-THHmmss}";
        using var log = new RunLog(request.NoLog || request.WritesNothing ? null : Path.Combine(workspace.State, "logs", reference + ".log"),
            request.Quiet || request.Hashes || request.Paths, request.Verbose);
        string? error = null;
        if (request.Parallel is > 1 && !request.ParallelSafe && !request.WritesNothing)
        {
            error = ParallelRun.Run(request, workspace, sets.Count, reference, log);
            if (error is not null && request.Stop.IsCancellationRequested) error = Stopped;
        }
        var manager = new ExperimentManager(new ExperimentOptions
        {
            ExperimentName = request.Experiment,
            CacheDirectory = cache,
            Prefix = request.Prefix,
            Overwrite = request.Overwrite,
            OverwriteStages = new HashSet<string>(request.OverwriteStages, StringComparer.Ordinal),
            DryCache = request.DryCache || request.WritesNothing,
            Lazy = request.Lazy,
            IgnoreLazy = request.IgnoreLazy,
            NoDag = request.NoDag && !request.Map,
            Code = Hashing.CodeHasher.ForUserAssemblies(loaded.Assembly),
            Log = log.Write,
            RunReference = reference,
            Stop = request.Stop,
        });
        try
        {
            if (error is null)
            {
                loaded.Invoke(sets, manager);
                if (request.Map || request.Paths)
                {
                    manager.Map();
                    if (request.Map) MapPrinter.Print(manager, request.Verbose);
                    else MapPrinter.PrintPaths(manager);
                    return 0;
                }
                if (!request.NoDag) manager.Execute();
                if (manager.Stopped) error = Stopped;
                else if (manager.Failures.Count > 0) error = string.Join("; ", manager.Failures.Select(f => $"{f.Stage.Name} on {f.Record.ReferenceName}: {f.Error}"));
            }
        }
        catch (OperationCanceledException) when (request.Stop.IsCancellationRequested)
        {
            error = Stopped;
        }
        catch (Exception ex) when (ex is StageSignatureException or StageFailedException or ExperimentException or Hashing.FingerprintException)
        {
            error = ex.Message;
            log.Write(LogLevel.Error, ex.Message);
        }
        if (record is not null) Finish(request, workspace, registry!.Result, manager, record, error, log, loaded);
        return error is null ? 0 : 1;
    }

    private static ExperimentRunRecord Begin(ExperimentRequest request, WorkspacePaths workspace, RegistryDb db, IReadOnlyList<(string File, IReadOnlyList<ExperimentParams> Sets)> files, DateTimeOffset started)
    {
        var parameters = new JsonObject();
        foreach (var (file, sets) in files) parameters[file] = new JsonArray([.. sets.Select(s => (JsonNode)new JsonArray(s.Name, s.Hash))]);
        var code = CodeState.Capture(workspace, request.Experiment, started);
        return db.BeginExperimentRun(request.Experiment, n => new ExperimentRunRecord
        {
            Reference = $"{request.Experiment}_{n}_{started.ToLocalTime():yyyy-MM-dd-THHmmss}",
            Experiment = request.Experiment,
            RunNumber = n,
            Started = started.ToUnixTimeMilliseconds() / 1000.0,
            Status = "running",
            Params = parameters,
            GitCommit = code.Commit,
            Dirty = code.Dirty,
            SnapshotRef = code.SnapshotRef,
            Cli = string.Join(' ', request.Cli.Select(Quote)),
            Host = Environment.MachineName,
            Notes = request.Notes,
        });
    }

    private static void Finish(ExperimentRequest request, WorkspacePaths workspace, RegistryDb db, ExperimentManager manager, ExperimentRunRecord record, string? error, RunLog log, LoadedExperiment loaded)
    {
        var storeDir = Path.Combine(workspace.Stores, record.Reference);
        var reproduce = Reproduce(request, Path.GetRelativePath(workspace.Root, Path.Combine(storeDir, "artifacts")));
        var done = record with
        {
            Ended = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0,
            Status = error is null ? "completed" : request.Stop.IsCancellationRequested ? "stopped" : "failed",
            Error = error,
            Reproduce = reproduce,
            FullStore = request.StoreFull ? Path.GetRelativePath(workspace.Root, storeDir) : null,
            Report = request.NoReport ? null : Path.GetRelativePath(workspace.Root, Path.Combine(workspace.Reports, record.Reference)),
        };
        if (!request.NoReport) RunReportWriter.Write(workspace.Reports, done, manager, log.Lines);
        if (request.StoreFull) FullStore.Write(storeDir, done, manager, log, workspace.Reports);
        db.UpdateExperimentRun(done);
        if (!request.NoReport) ReportIndex.Write(workspace.Reports, db.ExperimentRuns(), new ExperimentCatalog(workspace.Root));
        if (request.Notebook)
        {
            var notebook = RunNotebook.Write(NotebookPath(workspace, done.Reference), done, manager, RunNotebook.Here(manager, loaded.AssemblyFile));
            log.Write(LogLevel.Info, $"notebook: {Path.GetRelativePath(workspace.Root, notebook)}");
        }
        if (request.Docker) DockerExport.Write(workspace, done, request, manager, storeDir, loaded.AssemblyFile, log.Write);
        log.Write(error is null ? LogLevel.Info : LogLevel.Error, $"{record.Reference} {done.Status}{(done.Report is null ? "" : $"; report: {done.Report}/index.html")}");
    }

    /// <summary>Where <c>--notebook</c> writes a run's notebook (curifactory's <c>notebooks/experiments/{reference}.ipynb</c>).</summary>
    public static string NotebookPath(WorkspacePaths workspace, string reference) =>
        Path.Combine(workspace.Root, "notebooks", "experiments", reference + ".ipynb");

    /// <summary>The line that reproduces the run from its full store: <c>--overwrite</c> and <c>--store-full</c> dropped, the store as a read-only cache.</summary>
    public static string Reproduce(ExperimentRequest request, string artifacts) => string.Join(' ', ReproduceArgs(request, artifacts).Select(Quote));

    /// <summary><see cref="Reproduce"/> as arguments (<c>--docker</c> dropped too: a reproduction exports nothing).</summary>
    public static IReadOnlyList<string> ReproduceArgs(ExperimentRequest request, string artifacts)
    {
        ArgumentNullException.ThrowIfNull(request);
        var args = new List<string>();
        for (var i = 0; i < request.Cli.Count; i++)
        {
            var a = request.Cli[i];
            if (a is "--overwrite" or "--store-full" or "-s" or "--dry-cache" or "--docker") continue;
            if (a is "--cache" or "-c") { i++; continue; }
            args.Add(a);
        }
        return [.. args, "--cache", artifacts, "--dry-cache"];
    }

    private static string Quote(string a) => a.Length > 0 && a.All(c => char.IsLetterOrDigit(c) || "-_./=:,@".Contains(c, StringComparison.Ordinal)) ? a : "'" + a.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static void PrintParams(IReadOnlyList<ExperimentParams> sets, string which)
    {
        var chosen = which.Length == 0 ? sets : [.. sets.Where(s => s.Name == which || s.Hash.StartsWith(which, StringComparison.Ordinal))];
        if (chosen.Count == 0) throw new ExperimentException($"--print-params: no parameter set is named or hashed '{which}'");
        foreach (var s in chosen)
        {
            var json = JsonSerializer.SerializeToNode(s, s.GetType(), JsonCacher.Options)!.AsObject();
            json["hash"] = s.Hash;
            Console.Out.WriteLine(json.ToJsonString(JsonCacher.Options));
        }
    }
}
