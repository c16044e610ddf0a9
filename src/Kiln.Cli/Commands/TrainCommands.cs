using System.CommandLine;
using Kiln.Cli.Output;
using System.Globalization;
using Kiln.Execution.Local;
using Kiln.Protocol;
using Kiln.Registry;
using Kiln.Registry.Records;
using Kiln.Registry.Store;
using Kiln.Registry.Training;
using Kiln.Registry.Workspace;
using Kiln.Runs;

namespace Kiln.Cli.Commands;

/// <summary>
/// numb's train/trial cycle (docs/registry.md): <c>kiln train</c>, <c>kiln trial [--all] [--model ID]</c>,
/// <c>kiln queue init|run FILE</c>. Each runs the workspace's configured command as a child that reports through the
/// SDK, snapshots the code, and records the run in the registry.
/// </summary>
internal static class TrainCommands
{
    public static Command Train(Cli cli)
    {
        var yes = new Option<bool>("--yes") { Description = "Train again without asking when this architecture was trained with the same hyper-parameters" };
        var no = new Option<bool>("--no") { Description = "Never train again what was trained with the same hyper-parameters (stop at once)" };
        var silent = new Option<bool>("--silent") { Description = "Do not show the program's output (it is kept in the run's stdout.log and stderr.log)" };
        var command = new Command("train", "Run the workspace's train command(s) and record each run: architecture, hyper-parameters, weights, code snapshot") { yes, no, silent };
        cli.Handle(command, c =>
        {
            if (c.Get(yes) && c.Get(no)) throw new UsageException("--yes and --no: give one or the other");
            var (workspace, config) = Open(c);
            using var db = RegistryDb.Open(workspace);
            var session = new TrainSession(new RegistryRecords(workspace, db), new GitCodeSnapshots(workspace));
            var stop = StopSignals.Install().Token;
            var failed = 0;
            foreach (var argv in config.Train)
            {
                var outcome = session.Run(new TrainRequest
                {
                    Workspace = workspace, Command = argv, Retrain = c.Get(yes) ? RetrainAnswer.Yes : c.Get(no) ? RetrainAnswer.No : RetrainAnswer.Ask,
                    Ask = Terminal.Confirm, Log = c.Out.Line, Echo = c.Get(silent) ? null : "", Stop = stop,
                });
                Say(c, outcome);
                if (outcome.Status is not (RunInfo.Completed or TrainOutcome.Declined)) failed++;
                if (stop.IsCancellationRequested) break;
            }
            return failed == 0 ? 0 : 1;
        });
        return command;
    }

    public static Command Trial(Cli cli)
    {
        var all = new Option<bool>("--all") { Description = "Trial every model of the architecture not trialled yet, newest first, without asking" };
        var model = new Option<string?>("--model") { Description = "The run whose model to trial (for scripts; default: choose from a table)" };
        var silent = new Option<bool>("--silent") { Description = "Do not show the program's output" };
        var command = new Command("trial", "Run the workspace's trial command on a trained model of its architecture and record the result") { all, model, silent };
        cli.Handle(command, c =>
        {
            if (c.Get(all) && c.Get(model) is not null) throw new UsageException("--all and --model: give one or the other");
            var (workspace, config) = Open(c);
            using var db = RegistryDb.Open(workspace);
            var session = new TrialSession(new RegistryRecords(workspace, db));
            var stop = StopSignals.Install().Token;
            var argv = config.Trial.FirstOrDefault() ?? throw new ProtocolException($"{workspace.Config}: trial: no command to run");
            TrialRequest Request(bool next) => new()
            {
                Workspace = workspace, Command = argv, Model = c.Get(model), NextUntrialled = next, Choose = m => Choose(c.Out, m),
                Log = c.Out.Line, Echo = c.Get(silent) ? null : "", Stop = stop,
            };
            if (!c.Get(all))
            {
                var outcome = session.Run(Request(false));
                c.Out.Line(outcome.Message);
                return outcome.End == TrialEnd.Recorded ? 0 : 1;
            }
            var made = 0;
            while (!stop.IsCancellationRequested)
            {
                var outcome = session.Run(Request(true));
                if (outcome.End == TrialEnd.AllTrialled)
                {
                    c.Out.Line(made == 0 ? outcome.Message : $"Done: {made} trial{(made == 1 ? "" : "s")} made in total");
                    return 0;
                }
                c.Out.Line(outcome.Message);
                if (outcome.End != TrialEnd.Recorded) return 1;
                made++;
            }
            return 1;
        });
        return command;
    }

    public static Command Queue(Cli cli)
    {
        var file = new Argument<string>("file") { Description = "The queue file: {\"queue\": [{…}, …], \"start\": 0, \"end\": N}" };
        var force = new Option<bool>("--force") { Description = "Replace an existing file with an empty queue" };
        var init = new Command("init", "Write an empty queue file") { file, force };
        cli.Handle(init, c =>
        {
            var path = Path.GetFullPath(c.Get(file)!);
            QueueFile.Init(path, c.Get(force));
            c.Out.Line($"{path}: an empty queue; list hyper-parameter objects in \"queue\" and set \"start\" and \"end\"");
            return 0;
        });

        var runFile = new Argument<string>("file") { Description = "The queue file" };
        var jobs = new Option<int>("--jobs") { Description = "Runs at a time (default 1)", DefaultValueFactory = _ => 1 };
        var silent = new Option<bool>("--silent") { Description = "Do not show the programs' output" };
        var run = new Command("run", "Train once per queued hyper-parameter set (entries start to end), each injected into the train command and recorded") { runFile, jobs, silent };
        cli.Handle(run, c =>
        {
            if (c.Get(jobs) < 1) throw new UsageException($"--jobs: must be >= 1, got {c.Get(jobs)}");
            var (workspace, config) = Open(c);
            var queue = QueueFile.Read(Path.GetFullPath(c.Get(runFile)!));
            if (config.Executor != WorkspaceConfig.LocalExecutor)
                throw new ProtocolException($"{workspace.Config}: executor: {config.Executor} is not available in this version; use local");
            using var db = RegistryDb.Open(workspace);
            var stop = StopSignals.Install().Token;
            var executor = new LocalProcessPool(new LocalPoolOptions { Parallelism = c.Get(jobs) });
            try
            {
                var outcomes = new QueueSession(new RegistryRecords(workspace, db), new GitCodeSnapshots(workspace), executor)
                    .Run(workspace, queue, config.Train, c.Get(jobs), c.Out.Line, stop);
                foreach (var o in outcomes) Say(c, o);
                var done = outcomes.Count(o => o.Succeeded);
                c.Out.Line($"{outcomes.Count} run{(outcomes.Count == 1 ? "" : "s")}: {done} completed, {outcomes.Count - done} not");
                return done == outcomes.Count ? 0 : 1;
            }
            finally
            {
                executor.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        });
        return new Command("queue", "Queue files of hyper-parameter sets: kiln queue init FILE, kiln queue run FILE") { init, run };
    }

    private static (WorkspacePaths, WorkspaceConfig) Open(Context c)
    {
        var workspace = c.Workspace();
        return (workspace, WorkspaceConfig.Read(workspace.Config));
    }

    private static void Say(Context c, TrainOutcome outcome)
    {
        if (outcome.RunDir is null) return;
        var id = Path.GetFileName(outcome.RunDir);
        var style = outcome.Succeeded ? "green" : "red";
        c.Out.Line($"{id} ", outcome.Status, style, outcome.Error is null ? "" : $": {outcome.Error}");
    }

    /// <summary>The models of the architecture as a table, newest first; the index typed (empty: 0, the newest), or null when none is given.</summary>
    private static ModelEntry? Choose(Terminal t, IReadOnlyList<ModelEntry> models)
    {
        t.Table(["#", "run", "trained", "hyper-parameters", "trial result"], models.Select((m, i) => (IReadOnlyList<string>)
        [
            i.ToString(CultureInfo.InvariantCulture), m.Id,
            m.Start is { } s ? DateTimeOffset.FromUnixTimeMilliseconds((long)(s * 1000)).ToLocalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) : "",
            CanonicalJson.Params(m.Params), m.Result is null ? "not trialled" : CanonicalJson.Of(m.Result),
        ]).ToList());
        for (var tries = 0; tries < 5; tries++)
        {
            Console.Out.Write("Use model [0]: ");
            Console.Out.Flush();
            var line = Console.In.ReadLine();
            if (line is null) return null;
            if (line.Trim().Length == 0) return models[0];
            if (int.TryParse(line.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < models.Count) return models[i];
            Console.Out.WriteLine($"Invalid index: give 0 to {models.Count - 1}.");
        }
        return null;
    }
}
