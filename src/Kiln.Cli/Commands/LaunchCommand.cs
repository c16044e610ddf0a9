using System.CommandLine;
using System.Globalization;
using Kiln.Cli.Output;
using Kiln.Control;
using Kiln.Kernel;
using Kiln.Protocol;
using Kiln.Scripting.Functions;
using Kiln.Scripting.Loading;
using Kiln.Train.Compute;
using Kiln.Runs;
using Kiln.Train.Runs;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln launch</c>: train a built-in config or a training function in a new run directory, steerable while it runs.</summary>
internal static class LaunchCommand
{
    public static Command Build(Cli cli)
    {
        var config = new Option<string>("--config") { Description = "Built-in run: simple, multitask or finetune", DefaultValueFactory = _ => "multitask" };
        config.AcceptOnlyFromAmong("simple", "multitask", "finetune");
        var trainFn = new Option<string>("--train-fn") { Description = "A training function instead: <file.cs or assembly.dll>:<Namespace.Type.Method> (see docs/train.md)" };
        var runDir = new Option<string>("--run-dir") { Description = "The run directory (default: a new folder under runs/)" };
        var maxSteps = new Option<long?>("--max-steps") { Description = "Steps to train (default: the config's)" };
        var maxTime = new Option<double?>("--max-time") { Description = "Stop after this many seconds; whichever of steps and time comes first wins" };
        var stepDelay = new Option<double>("--step-delay") { Description = "Seconds to wait after each step", DefaultValueFactory = _ => 0 };
        var seed = new Option<long>("--seed") { Description = "Seed of weights, batches and dropout", DefaultValueFactory = _ => 42 };
        var dataDir = new Option<string>("--data-dir") { Description = "Where Fashion-MNIST's IDX files are (default /usr/share/datasets/fashion-mnist)" };
        var param = new Option<string[]>("--param")
        {
            Description = "Override a built-in config's parameter: key=value (repeatable)",
            AllowMultipleArgumentsPerToken = true,
        };
        var threads = new Option<int?>("--threads") { Description = "Threads for matrix products (default: all cores)" };
        var (host, port, token) = ServeCommands.ServerOptions();
        var noServe = new Option<bool>("--no-serve") { Description = "Do not serve the dashboard" };
        var keepServing = new Option<bool>("--keep-serving") { Description = "Keep serving the dashboard after training ends, until Ctrl-C" };
        var replay = new Option<string>("--replay") { Description = "Replay a recipe (kiln recipe export) in the new run: its changes at their steps, outside changes ignored" };
        var replayPolicy = new Option<string>("--replay-policy") { Description = "What a missed or failed recipe entry does: best_effort goes on, strict fails the run", DefaultValueFactory = _ => FreezeState.BestEffort };
        replayPolicy.AcceptOnlyFromAmong(FreezeState.Policies);
        var resume = new Option<string>("--resume") { Description = "Continue the stopped run in this directory from its checkpoint, as it was launched (config, seed, steps, params)" };
        var checkpointEvery = new Option<long>("--checkpoint-every") { Description = "Also write a checkpoint every N steps (one is always written when the run is stopped)", DefaultValueFactory = _ => 0 };
        var autopilot = AutopilotPlan.Options();
        var command = new Command("launch", "Train a built-in run (or your function) in a run directory that the kernel makes steerable, with the dashboard")
        {
            config, trainFn, runDir, maxSteps, maxTime, stepDelay, seed, dataDir, param, threads, host, port, token, noServe, keepServing, replay, replayPolicy,
            resume, checkpointEvery,
        };
        foreach (var option in autopilot.All) command.Options.Add(option);
        cli.Handle(command, c =>
        {
            var pilot = AutopilotPlan.From(c, autopilot);
            if (c.Get(checkpointEvery) < 0) throw new UsageException($"--checkpoint-every: must be >= 0, got {c.Get(checkpointEvery)}");
            var options = c.Get(resume) is { } resumeDir
                ? Resumed(c, resumeDir, [config, trainFn, runDir, maxSteps, seed, param, replay], stepDelay, dataDir)
                : new LaunchOptions
            {
                Function = c.Get(trainFn) is { } spec ? Cli.Usage(() => ScriptTrainFunctions.Resolve(spec)) : BuiltInRuns.Get(c.Get(config)!),
                RunDir = RunDirOf(c, cli, c.Get(runDir)),
                MaxSteps = c.Get(maxSteps),
                MaxTime = DurationOption.Get(c, maxTime, zeroAllowed: false),
                StepDelay = DurationOption.Get(c, stepDelay, zeroAllowed: true),
                Seed = c.Get(seed),
                DataDir = c.Get(dataDir),
                Params = c.Get(param) is { Length: > 0 } pairs ? Cli.Pairs(pairs) : null,
                Kernel = KernelDefaults(),
            };
            options = options with { CheckpointEvery = c.Get(checkpointEvery) };
            if (c.Get(threads) is { } n) Workers.Threads = n > 0 ? n : throw new UsageException("--threads: must be > 0");
            if (!options.Resume) RefuseUsedRunDir(options.RunDir);
            var dir = Path.GetFullPath(options.RunDir ?? RunLauncher.NewRunDir(options.RunsRoot, options.Function.Name));
            options = options with { RunDir = dir };
            if (c.Get(replay) is { } recipe)
            {
                // The recipe is named from the shell's directory; the run stores where it is.
                var state = new FreezeState { Mode = FreezeState.Replay, RecipePath = Path.GetFullPath(recipe), Policy = c.Get(replayPolicy)! };
                new RunControl(dir).SetFreeze(state with { RecipePath = new RunControl(dir).RunRelative(state.RecipePath!) }, create: true);
                c.Out.Line($"replaying {recipe} ({state.Policy})");
            }
            var stop = StopSignals.Install();
            if (c.Get(noServe)) return Launch(c.Out, options, stop.Token, pilot);
            // The dashboard serves the current directory when the run is inside it, else the run directory alone.
            Directory.CreateDirectory(dir);
            var cwd = Directory.GetCurrentDirectory();
            var root = dir.StartsWith(cwd + Path.DirectorySeparatorChar, StringComparison.Ordinal) ? cwd : dir;
            Kiln.Server.Hosting.KilnServer? server = null;
            try
            {
                server = ServeCommands.Start(c, root, c.Get(host)!, c.Get(port), c.Get(token));
                var id = root == dir ? "." : Path.GetRelativePath(root, dir).Replace(Path.DirectorySeparatorChar, '/');
                c.Out.Line("dashboard ", server.RunUrl(id), "cyan", "");
            }
            catch (ProtocolException ex)
            {
                Terminal.Warn(ex.Message + "; training without it (pass --port, or --no-serve)");
            }
            try
            {
                var code = Launch(c.Out, options, stop.Token, pilot);
                if (server is not null && c.Get(keepServing) && !stop.StopRequested)
                {
                    c.Out.Line($"training ended; the dashboard stays at {server.Url} until Ctrl-C");
                    server.WaitAsync(stop.Token).GetAwaiter().GetResult();
                }
                return stop.StopRequested && code == 0 ? stop.ExitCode : code;
            }
            finally
            {
                server?.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        });
        return command;
    }

    /// <summary>
    /// <c>kiln --dir D launch</c> trains in D, as every other command acts on <c>--dir</c>; with <c>--run-dir</c> too, the
    /// two must agree.
    /// </summary>
    private static string? RunDirOf(Context c, Cli cli, string? runDir)
    {
        if (c.Parse.GetResult(cli.Dir) is not { Implicit: false }) return runDir;
        var dir = c.Parse.GetValue(cli.Dir)!;
        if (runDir is not null && Path.GetFullPath(runDir) != Path.GetFullPath(dir))
            throw new UsageException($"--dir {dir} and --run-dir {runDir} name different run directories; give one");
        return dir;
    }

    /// <summary>
    /// <c>--resume DIR</c>: the run as <c>kiln.run.json</c> and its checkpoint recorded it — the built-in config, seed, steps,
    /// step delay, parameters and data directory. What would launch a different run cannot be given beside it.
    /// </summary>
    private static LaunchOptions Resumed(Context c, string dir, Option[] fixedByTheRun, Option<double> stepDelay, Option<string> dataDir)
    {
        foreach (var option in fixedByTheRun)
        {
            if (c.Parse.GetResult(option) is { Implicit: false })
                throw new UsageException($"--resume continues the run as it was launched; {option.Name} cannot be given with it");
        }
        dir = Path.GetFullPath(dir);
        if (!RunState.TryRead(dir, out var info, out var error)) throw new UsageException($"--resume {dir}: {error ?? $"no run here ({RunFiles.Run} is missing)"}");
        if (info!.Status == RunInfo.Running) throw new UsageException($"--resume {dir}: the run is still running (pid {info.Pid})");
        if (info.Status == RunInfo.Completed) throw new UsageException($"--resume {dir}: the run completed; there is nothing to resume");
        if (info.Config is not { } name || !BuiltInRuns.All.TryGetValue(name, out var function))
            throw new UsageException($"--resume {dir}: only built-in runs keep checkpoints (this one ran {info.Config ?? "an unknown config"})");
        var checkpoint = Cli.Usage(() => RunCheckpoint.Read(dir))
            ?? throw new UsageException($"--resume {dir}: no checkpoint ({RunFiles.Checkpoint}/{RunCheckpoint.ManifestFile}); it was not stopped cleanly, and --checkpoint-every was not given");
        var delay = info.Params?["step_delay"] is { } d ? JsonValues.GetDouble(d, "step_delay") : 0;
        return new LaunchOptions
        {
            Function = function, RunDir = dir, Resume = true, MaxSteps = checkpoint.MaxSteps, Seed = info.Seed ?? checkpoint.Seed,
            // A resumed run may be watched at another pace; by default it keeps its own.
            StepDelay = c.Parse.GetResult(stepDelay) is { Implicit: false } ? DurationOption.Get(c, stepDelay, zeroAllowed: true) : TimeSpan.FromSeconds(delay),
            DataDir = c.Get(dataDir) ?? checkpoint.DataDir, Params = checkpoint.Overrides, Kernel = KernelDefaults(),
        };
    }

    /// <summary>
    /// A run directory that already holds a run is not trained into again: its metrics, ledger and weights would mix
    /// with the new run's. (A trial's directory is the trial runner's to reuse, not this command's.)
    /// </summary>
    private static void RefuseUsedRunDir(string? runDir)
    {
        if (runDir is null) return;
        var dir = Path.GetFullPath(runDir);
        if (!File.Exists(Path.Combine(dir, RunFiles.Run))) return;
        var status = RunState.Read(dir)?.Status ?? "unreadable";
        throw new UsageException($"--run-dir {runDir}: it already holds a run ({RunFiles.Run} says {status}); give a new directory, or leave --run-dir out for a fresh one under runs/");
    }

    /// <summary>Kernel options for runs the command line starts: callbacks also load from C# source files.</summary>
    public static KernelOptions KernelDefaults() => new() { CallbackLoaders = [new SourceCallbackLoader()] };

    /// <summary>
    /// Runs and reports; exit 0 when completed, 1 when failed, 128 + the signal (130 for Ctrl-C, 143 for SIGTERM) when
    /// stopped. With <paramref name="autopilot"/>, the autopilot follows the run from its start to its end.
    /// </summary>
    public static int Launch(Terminal terminal, LaunchOptions options, CancellationToken cancel, AutopilotPlan? autopilot = null)
    {
        var name = options.Function.Name;
        var steps = options.MaxSteps ?? options.Function.DefaultSteps;
        IDisposable? following = null;
        // Indexed as it starts (the dashboard and `kiln models` see it running) and again when it ends.
        options = options with
        {
            Started = dir =>
            {
                RegistryHook.Record([dir]);
                following = autopilot?.Follow(dir, terminal);
            },
        };
        LaunchResult result;
        try
        {
            result = terminal.Rich
                ? RichProgress.Run(name, steps, (log, progress) => RunLauncher.Run(options, log, progress, cancel))
                : PlainProgress(terminal, name, steps, options, cancel);
        }
        finally
        {
            following?.Dispose();
        }
        RegistryHook.Record([result.RunDir]);
        Report(terminal, result);
        return ExitCode(result.Status);
    }

    /// <summary>The exit code of a run that ended with <paramref name="status"/>.</summary>
    public static int ExitCode(string status) => status switch
    {
        RunInfo.Completed => 0,
        RunInfo.Stopped => StopSignals.Install().ExitCode,
        _ => 1,
    };

    private static LaunchResult PlainProgress(Terminal terminal, string name, long steps, LaunchOptions options, CancellationToken cancel)
    {
        var next = DateTime.UtcNow;
        var latest = new Dictionary<string, double>(StringComparer.Ordinal);
        terminal.Line($"training {name} for {steps} steps");
        return RunLauncher.Run(options, terminal.Line, (step, metrics) =>
        {
            foreach (var (n, v) in metrics) latest[n] = v;
            if (DateTime.UtcNow < next) return;
            next = DateTime.UtcNow.AddSeconds(2);
            terminal.Line($"step {step + 1}/{steps}  {Format(latest)}");
        }, cancel);
    }

    internal static string Format(IReadOnlyDictionary<string, double> metrics, bool brief = false)
    {
        var keys = brief ? ["train_loss", "val_accuracy"] : new[] { "train_loss", "accuracy", "val_loss", "val_accuracy", "lr", "grad_norm" };
        return string.Join("  ", keys.Where(metrics.ContainsKey).Select(k => $"{k}={metrics[k].ToString("G4", CultureInfo.InvariantCulture)}"));
    }

    private static void Report(Terminal terminal, LaunchResult result)
    {
        var style = result.Status switch { RunInfo.Completed => "green", RunInfo.Stopped => "yellow", _ => "red" };
        var steps = result.LastStep is { } s ? $" after {s + 1} steps" : "";
        terminal.Line("run ", result.Status, style, $"{steps}: {result.RunDir}");
        if (result.LastMetrics.Count > 0) terminal.Line("  " + Format(result.LastMetrics));
        if (result.Error is not null) Terminal.Error(result.Error);
    }
}
