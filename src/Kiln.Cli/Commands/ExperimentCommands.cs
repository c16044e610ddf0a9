using System.CommandLine;
using System.Diagnostics;
using Kiln.Cli.Output;
using Kiln.Experiments;
using Kiln.Experiments.Hashing;
using Kiln.Experiments.Loading;
using Kiln.Experiments.Reporting;
using Kiln.Experiments.Runs;
using Kiln.Registry.Store;
using Kiln.Runs;
using Kiln.Server.Hosting;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln experiment NAME -p P …</c>, <c>kiln experiment ls</c> and <c>kiln reports</c> (seed 004; docs/experiments.md).</summary>
internal static class ExperimentCommands
{
    public static Command Experiment(Cli cli)
    {
        var name = new Argument<string?>("name") { Description = "The experiment: experiments/NAME.cs", Arity = ArgumentArity.ZeroOrOne };
        Option<string[]> Many(string n, string description, params string[] aliases)
        {
            var o = new Option<string[]>(n, aliases) { Description = description, Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = false };
            return o;
        }
        Option<bool> Flag(string n, string description, params string[] aliases) => new(n, aliases) { Description = description };
        var parameters = Many("--params", "A parameters file (params/NAME.cs or an experiment with GetParams); repeatable; default: the experiment itself", "-p");
        var names = Many("--names", "Run only the parameter sets with this name; repeatable", "-n");
        var indices = Many("--indices", "Run only these indices of each parameters file: i or a-b (b exclusive); repeatable");
        var globalIndices = Many("--global-indices", "Run only these indices of the combined list: i or a-b; repeatable");
        var parallel = new Option<int?>("--parallel") { Description = "Split the parameter sets over N worker processes, then run once more with everything cached" };
        var parallelSafe = Flag("--parallel-safe", "Run and cache, but write no registry entry or report (what --parallel workers run)");
        var overwrite = Flag("--overwrite", "Recompute every stage");
        var overwriteStage = Many("--overwrite-stage", "Recompute this stage (and whatever downstream then reads different data); repeatable");
        var storeFull = Flag("--store-full", "Keep the run's artifacts, report, log and environment in .kiln/stores/REFERENCE", "-s");
        var cache = new Option<string?>("--cache", "-c") { Description = "The cache folder to read and write (default .kiln/cache)" };
        var dry = Flag("--dry", "Write nothing: no cache, registry entry, report or log");
        var dryCache = Flag("--dry-cache", "Read the cache, write nothing to it");
        var lazy = Flag("--lazy", "Treat every output as Lazy (outputs without a cacher get a JSON cacher)");
        var ignoreLazy = Flag("--ignore-lazy", "Keep Lazy outputs in memory like the others");
        var prefix = new Option<string?>("--prefix") { Description = "Prefix of the cache files (default: the experiment's name)" };
        var notes = new Option<string?>("--notes") { Description = "Notes for the run (Markdown; the first line is the short form); with no text, $EDITOR opens", Arity = ArgumentArity.ZeroOrOne };
        var noLog = Flag("--no-log", "Write no log file");
        var verbose = Flag("--verbose", "Debug messages too; with --map, each stage's key and code hash", "-v");
        var quiet = Flag("--quiet", "Only errors on the console");
        var logErrors = Flag("--log-errors", "Errors and their stack traces go to the log file too (they always do in Kiln)");
        var progress = Flag("--progress", "Progress per stage (Kiln logs each stage it runs)");
        var map = Flag("--map", "Print the plan (each stage: cached, or why it runs) and run nothing");
        var noDag = Flag("--no-dag", "Run each stage when it is called, without the map pass");
        var hashes = Flag("--hashes", "Print each selected parameter set's hash and name");
        var printParams = new Option<string?>("--print-params") { Description = "Print the parameter sets (or the one with this name or hash prefix) as JSON", Arity = ArgumentArity.ZeroOrOne };
        var paths = Flag("--paths", "Print the artifact and metadata paths of every stage");
        var noReport = Flag("--no-report", "Write no HTML report");
        var notebook = Flag("--notebook", "Write notebooks/experiments/REFERENCE.ipynb, a C# notebook that reloads the run's cached records");
        var docker = Flag("--docker", "Write a docker build context of the run (code snapshot, artifacts, notebook; implies --store-full), and build it when docker or podman can");
        var command = new Command("experiment", "Run a cached experiment pipeline: experiments/NAME.cs over the parameter sets of params/*.cs")
        {
            name, parameters, names, indices, globalIndices, parallel, parallelSafe, overwrite, overwriteStage, storeFull, cache, dry, dryCache,
            lazy, ignoreLazy, prefix, notes, noLog, verbose, quiet, logErrors, progress, map, noDag, hashes, printParams, paths, noReport, notebook, docker,
        };
        command.Subcommands.Add(List(cli));
        cli.Handle(command, c =>
        {
            var experiment = c.Get(name) ?? throw new UsageException("experiment: name the experiment (`kiln experiment ls` lists them)");
            if (c.Get(lazy) && c.Get(ignoreLazy)) throw new UsageException("--lazy and --ignore-lazy contradict each other");
            var workspace = c.Workspace();
            var noteText = c.Parse.GetResult(notes) is null ? null : c.Get(notes) ?? Editor();
            var request = new ExperimentRequest
            {
                Root = workspace.Root,
                Experiment = experiment,
                Params = c.Get(parameters) ?? [],
                Names = c.Get(names) ?? [],
                Indices = c.Get(indices) ?? [],
                GlobalIndices = c.Get(globalIndices) ?? [],
                Parallel = c.Get(parallel),
                ParallelSafe = c.Get(parallelSafe),
                Overwrite = c.Get(overwrite),
                OverwriteStages = c.Get(overwriteStage) ?? [],
                Cache = c.Get(cache),
                Dry = c.Get(dry),
                DryCache = c.Get(dryCache),
                Lazy = c.Get(lazy),
                IgnoreLazy = c.Get(ignoreLazy),
                Prefix = c.Get(prefix),
                Notes = noteText,
                NoLog = c.Get(noLog),
                Verbose = c.Get(verbose),
                Quiet = c.Get(quiet),
                LogErrors = c.Get(logErrors),
                Map = c.Get(map),
                NoDag = c.Get(noDag),
                Hashes = c.Get(hashes),
                PrintParams = c.Parse.GetResult(printParams) is null ? null : c.Get(printParams) ?? "",
                Paths = c.Get(paths),
                NoReport = c.Get(noReport) || c.Get(parallelSafe),
                Notebook = c.Get(notebook) || c.Get(docker),
                Docker = c.Get(docker),
                StoreFull = c.Get(storeFull) || c.Get(docker),
                Cli = ["experiment", .. c.Parse.Tokens.SkipWhile(t => t.Value != "experiment").Skip(1).Select(t => t.Value)],
                KilnBinary = Environment.ProcessPath,
                Stop = StopSignals.Install().Token,
            };
            try
            {
                var code = ExperimentRunner.Run(request);
                return StopSignals.Install() is { StopRequested: true } stop ? stop.ExitCode : code;
            }
            catch (Exception ex) when (ex is ExperimentException or StageSignatureException or FingerprintException)
            {
                Terminal.Error(ex.Message);
                return 1;
            }
        });
        return command;
    }

    private static Command List(Cli cli)
    {
        var json = Cli.JsonOption();
        var command = new Command("ls", "List the experiments (files with Run) and parameter files (files with GetParams), with their descriptions") { json };
        cli.Handle(command, c =>
        {
            var catalog = new ExperimentCatalog(c.Workspace().Root);
            var experiments = catalog.Experiments();
            var parameters = catalog.Params();
            if (c.Get(json))
            {
                static System.Text.Json.Nodes.JsonArray Items(IEnumerable<CatalogEntry> e) =>
                    [.. e.Select(x => (System.Text.Json.Nodes.JsonNode)new System.Text.Json.Nodes.JsonObject { ["name"] = x.Name, ["description"] = x.Description })];
                c.Out.Json(new System.Text.Json.Nodes.JsonObject { ["experiments"] = Items(experiments), ["params"] = Items(parameters) });
                return 0;
            }
            c.Out.Line("EXPERIMENTS:");
            foreach (var e in experiments) c.Out.Line($"\t{e.Name}{(e.Description is null ? "" : " - " + e.Description)}");
            c.Out.Line();
            c.Out.Line("PARAMS:");
            foreach (var p in parameters) c.Out.Line($"\t{p.Name}{(p.Description is null ? "" : " - " + p.Description)}");
            return 0;
        });
        return command;
    }

    public static Command Reports(Cli cli)
    {
        var update = new Option<bool>("--update") { Description = "Rebuild reports/index.html from every report folder's run_info.json, then exit" };
        var (host, port, token) = ServeCommands.ServerOptions(defaultPort: 8080);
        var command = new Command("reports", "Serve the experiment reports (reports/ and its index) over HTTP; --update rebuilds the index") { update, port, host, token };
        cli.Handle(command, c =>
        {
            var workspace = c.Workspace();
            if (c.Get(update))
            {
                var n = ReportIndex.Rebuild(workspace.Reports, new ExperimentCatalog(workspace.Root));
                c.Out.Line($"{Path.Combine(workspace.Reports, "index.html")}: {n} runs");
                return 0;
            }
            if (!Directory.Exists(workspace.Reports))
                throw new UsageException($"{workspace.Reports}: no reports yet (each `kiln experiment` run writes one, unless --no-report)");
            var stop = StopSignals.Install();
            var server = ServeCommands.Start(c.Get(host)!, c.Get(port), options => KilnServer.StartFolderAsync(options with { Root = workspace.Reports, Token = c.Get(token) }));
            c.Out.Line("reports ", server.PageUrl(), "cyan", $"  (serving {workspace.Reports}; Ctrl-C to stop)");
            c.Out.Line($"token: {server.Token}");
            server.WaitAsync(stop.Token).GetAwaiter().GetResult();
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return stop.StopRequested ? stop.ExitCode : 0;
        });
        return command;
    }

    /// <summary><c>--notes</c> without text: $EDITOR (else the first of editor, nano, vi) on a temporary file.</summary>
    private static string Editor()
    {
        var file = Path.Combine(Path.GetTempPath(), $"kiln-notes-{Environment.ProcessId}.md");
        File.WriteAllText(file, "");
        try
        {
            var editor = Environment.GetEnvironmentVariable("EDITOR");
            var candidates = string.IsNullOrWhiteSpace(editor) ? ["editor", "nano", "vi"] : new[] { editor };
            foreach (var e in candidates)
            {
                try
                {
                    using var p = Process.Start(new ProcessStartInfo(e) { ArgumentList = { file }, UseShellExecute = false });
                    if (p is null) continue;
                    p.WaitForExit();
                    return File.ReadAllText(file).Trim();
                }
                catch (System.ComponentModel.Win32Exception)
                {
                }
            }
            throw new UsageException($"--notes: no editor could be started ({string.Join(", ", candidates)}); give the notes as text: --notes \"…\"");
        }
        finally
        {
            File.Delete(file);
        }
    }
}
