using System.Diagnostics;
using Kiln.Kernel;
using Kiln.Metrics;
using Kiln.Modules.Tune;
using Kiln.Protocol;
using Kiln.Runs;
using Kiln.Train.Data;

namespace Kiln.Autobench;

/// <summary>
/// Runs one condition for one seed in this process, through <see cref="RunLauncher"/> like <c>kiln launch</c>: a run
/// directory of its own with metrics, ledger and commands, the controller paced by <see cref="ControllerPacer"/>.
/// The result is read back from the run's metrics file, so it is what anyone opening the run would see.
/// </summary>
public static class ConditionRunner
{
    /// <summary>Checkpoints a steered run keeps: a divergence is seen within a few evaluations of its start.</summary>
    public const int SteeredCheckpoints = 4;

    /// <param name="prepare">Writes into the fresh run directory before the run starts (a recipe to replay and its freeze file).</param>
    public static RunResult Run(BenchTask task, (Dataset Train, Dataset Val, string Source) data, Condition condition, long seed, string runDir, Action<string>? log = null,
        Action<string>? prepare = null)
    {
        var setup = condition.Setup ?? throw new ArgumentException($"condition {condition.Name} is not run: {condition.NotRun}", nameof(condition));
        if (Directory.Exists(runDir)) Directory.Delete(runDir, recursive: true);
        if (setup.Tune is not null || prepare is not null) Directory.CreateDirectory(runDir);
        // JSON is YAML: tune is set up as a user would, in kiln.yaml, and is part of the run's baseline.
        if (setup.Tune is { } tune) File.WriteAllText(Path.Combine(runDir, RunFiles.Config), $"version: 1\ntune:\n  params: {tune.ToJsonString()}\n");
        prepare?.Invoke(runDir);
        var pacer = new ControllerPacer();
        var function = new TrainFunction($"bench-{task.Name}", task.Steps, ctx =>
        {
            pacer.Flush = ctx.Metrics.Flush;
            pacer.Controller = condition.Controller?.Invoke(ctx.RunDir);
            BenchTrainer.Train(ctx, task, data, setup);
        }, null);
        var clock = Stopwatch.StartNew();
        var launched = RunLauncher.Run(new LaunchOptions
        {
            Function = function, RunDir = runDir, MaxSteps = task.Steps, Seed = seed, Kind = "bench",
            // A steered run keeps its last checkpoints, one per evaluation, so the autopilot can roll a divergence back.
            CheckpointEvery = condition.Controller is null ? 0 : task.EvalEvery, CheckpointKeep = condition.Controller is null ? 1 : SteeredCheckpoints,
            // The inbox is read at every safe point, so a command lands at the next one whatever the machine's load.
            Kernel = new KernelOptions { PollInterval = TimeSpan.Zero, Modules = [pacer], Warn = m => log?.Invoke(m) },
        }, log);
        var wall = clock.Elapsed.TotalSeconds;

        var reader = new MetricsReader(Path.Combine(launched.RunDir, RunFiles.Metrics));
        reader.Read();
        long[] steps = [];
        double[] acc = [];
        long trained = 0;
        if (reader.Series.TryGetValue("val_accuracy", out var val)) (steps, acc) = (val.Steps.ToArray(), val.Values.ToArray());
        if (reader.Series.TryGetValue("train_loss", out var loss) && loss.Count > 0) trained = loss.Count;
        var hit = Array.FindIndex(acc, a => a >= task.Target);
        return new RunResult
        {
            Task = task.Name, Condition = condition.Name, Start = condition.Start, Seed = seed, Lr = setup.Lr,
            Status = launched.Status, Error = launched.Error, RunDir = launched.RunDir, Steps = steps, ValAccuracy = acc,
            StepsToTarget = hit >= 0 ? steps[hit] + 1 : null, WallSeconds = wall, Compute = trained,
            Actions = setup.Tune is null ? pacer.Controller?.Actions ?? 0 : TuneHistory.Read(new RunFiles(launched.RunDir)).Segments.Count,
        };
    }
}
