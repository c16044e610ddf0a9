using System.Text.Json.Nodes;
using Kiln.Execution.Jobs;
using Kiln.Execution.Local;
using Kiln.IO;
using Kiln.Kernel;
using Kiln.Protocol;
using Kiln.Runs;
using Kiln.Train.Runs;
using Kiln.Trials.Expansion;

namespace Kiln.Trials.Running;

/// <summary>
/// Runs one trial in its directory: the built-in trainer (<see cref="CfgTrainer"/>), or the trial's own
/// <c>command:</c> (run with <c>/bin/sh -c</c> from the project root, told where it is by environment variables).
/// Either way the directory is a run directory: <c>kiln.run.json</c> records the outcome, and the built-in trainer
/// is steerable with <c>kiln --dir &lt;trial&gt; set …</c>. A built-in trial that finds a checkpoint in its directory
/// continues from it rather than from step 0.
/// </summary>
public static class TrialWorker
{
    public static LaunchResult Run(string root, string trialDir, KernelOptions? kernel = null, Action<string>? log = null,
        Action<long, IReadOnlyList<(string Name, double Value)>>? progress = null, CancellationToken cancel = default)
    {
        root = Path.GetFullPath(root);
        trialDir = Path.GetFullPath(trialDir);
        var cfgPath = Path.Combine(trialDir, TrialPaths.ConfigFile);
        if (!File.Exists(cfgPath)) throw new ProtocolException($"{cfgPath}: no trial configuration here (run `kiln trials expand` first)");
        var text = File.ReadAllText(cfgPath);
        var cfg = YamlJson.ParseFile(cfgPath) as JsonObject ?? throw new ProtocolException($"{cfgPath}: expected a mapping of keys");
        var (mode, dataset, model, trainer) = Names(root, trialDir);
        var record = new JsonObject { ["cfg_sha256"] = TreeExpander.Hash(text) };
        var seed = cfg["seed"] is { } sn && JsonValues.TryGetLong(sn, out var sv) ? sv : 0;

        if (cfg["command"] is { } commandNode)
        {
            var command = JsonValues.GetString(commandNode, $"{cfgPath}: command");
            var env = new Dictionary<string, string>
            {
                [ChildEnv.RunDir] = trialDir, ["KILN_TRIAL_DIR"] = trialDir, ["KILN_CONFIG"] = cfgPath, ["KILN_ROOT"] = root,
                ["KILN_MODE"] = mode, ["KILN_DATASET"] = dataset, ["KILN_MODEL"] = model, ["KILN_TRAINER"] = trainer,
                ["KILN_SEED"] = seed.ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            var fn = new TrainFunction("command", 1, null, (dir, _, _, stop) => RunCommand(command, root, dir, env, stop));
            return RunLauncher.Run(new LaunchOptions { Function = fn, RunDir = trialDir, Seed = seed, Kind = "trial", RunParams = record }, log, progress, cancel);
        }

        TrainerSettings settings;
        (Kiln.Train.Data.Dataset Train, Kiln.Train.Data.Dataset Test) data;
        try
        {
            settings = CfgTrainer.Read(cfg, dataset, model, trainer, Path.GetRelativePath(root, cfgPath));
            data = CfgTrainer.Data(settings);
        }
        catch (Exception ex) when (ex is ProtocolException or FileNotFoundException or InvalidDataException)
        {
            // The trial never started: say so in its run file, as a failed run would.
            TrialFailure.Record(trialDir, ex.Message);
            throw;
        }
        var (train, test) = data;
        var steps = CfgTrainer.Steps(settings, train);
        var function = new TrainFunction($"{settings.Model}/{settings.Optimizer}", steps, ctx => CfgTrainer.Train(ctx, settings, train, test), null);
        return RunLauncher.Run(new LaunchOptions
        {
            Function = function, RunDir = trialDir, MaxSteps = steps, Seed = settings.Seed, Kind = "trial", Kernel = kernel, RunParams = record,
            // A trial stopped before its end (a Slurm warning, a preemption, SIGTERM) left a checkpoint: the requeued task goes on from it.
            Resume = RunCheckpoint.Exists(trialDir), CheckpointEvery = settings.CheckpointEvery,
        }, log, progress, cancel);
    }

    /// <summary>The mode, dataset, model and trainer of a trial directory under out/log.</summary>
    public static (string Mode, string Dataset, string Model, string Trainer) Names(string root, string trialDir)
    {
        var rel = Path.GetRelativePath(Path.Combine(root, TrialPaths.LogRoot), trialDir).Split(Path.DirectorySeparatorChar);
        if (rel.Length != 5 || rel[0] == "..")
            throw new ProtocolException($"{trialDir}: not a trial directory of {root} (expected {TrialPaths.LogRoot}/<mode>/<dataset>/<model>/<trainer>/trial_###)");
        return (rel[0], rel[1], rel[2], rel[3]);
    }

    /// <summary>Runs the trial's own command (<c>/bin/sh -c</c>, in a process group of its own) and checks it wrote its log.</summary>
    private static void RunCommand(string command, string root, string trialDir, Dictionary<string, string> env, CancellationToken stop)
    {
        var job = new JobSpec
        {
            Name = Path.GetFileName(trialDir), Argv = ["/bin/sh", "-c", command], Env = env, WorkingDirectory = root, RunDirectory = trialDir,
            Threads = int.TryParse(Environment.GetEnvironmentVariable("KILN_THREADS"), out var threads) && threads > 0 ? threads : 1,
        };
        // Its output goes where this worker's goes (the trial's logs); stopping the worker stops the command and its children.
        var result = SingleJob.Run(job, stop, pool: new LocalPoolOptions { FollowSignals = false });
        if (stop.IsCancellationRequested) return;
        if (result.State != JobState.Completed) throw new InvalidOperationException($"command {result.Error ?? "did not finish"}: {command}");
        if (!TrialState.IsComplete(trialDir))
            throw new InvalidOperationException($"command exited 0 but wrote no {TrialPaths.BatchLog} in the trial directory (KILN_RUN_DIR)");
    }
}
