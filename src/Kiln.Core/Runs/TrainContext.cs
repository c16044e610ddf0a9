using System.Text.Json.Nodes;
using Kiln.Kernel;
using Kiln.Metrics;
using Kiln.Modules;
using Kiln.Modules.Loss;
using Kiln.Modules.Opt;
using Kiln.Protocol;

namespace Kiln.Runs;

/// <summary>
/// What a training function receives from <c>kiln launch</c>: its run (kernel, metrics writer, status), its budget
/// (steps, time, the delay between steps, a stop signal), its seed and data directory.
/// <code>
/// public static void Train(TrainContext ctx)
/// {
///     for (long step = 0; step &lt; ctx.MaxSteps &amp;&amp; !ctx.Stop.IsCancellationRequested; step++)
///     {
///         /* one training step */
///         ctx.Record(step, "train", [("train_loss", loss)]);
///         ctx.Kernel.Apply(step, "train_step_end", ctx.Env);
///         ctx.Pause();
///     }
/// }
/// </code>
/// </summary>
public sealed class TrainContext
{
    /// <summary>The run this function trains (status, kernel, metrics).</summary>
    public required KilnRun Run { get; init; }

    public RunFiles Files => Run.Files;
    public string RunDir => Run.Dir;

    /// <summary>Steps to train (the config's default unless <c>--max-steps</c> was given).</summary>
    public required long MaxSteps { get; init; }

    /// <summary>Pause after every step (<c>--step-delay</c>), to make a short run watchable.</summary>
    public TimeSpan StepDelay { get; init; }

    /// <summary>Signalled by Ctrl-C or SIGTERM, or when <c>--max-time</c> has passed.</summary>
    public CancellationToken Stop { get; init; }

    public long Seed { get; init; }

    /// <summary>Where Fashion-MNIST lives (<c>--data-dir</c>), or null for Debian's location.</summary>
    public string? DataDir { get; init; }

    public KilnKernel Kernel => Run.Kernel!;
    public KernelEnv Env => Run.Env;
    public MetricsWriter Metrics => Run.Metrics!;

    /// <summary>Messages for the user (the console, through the launcher).</summary>
    public Action<string> Log { get; init; } = _ => { };

    /// <summary>Overrides of a built-in config's parameters (<c>kiln launch --param key=value</c>).</summary>
    public JsonObject? Overrides { get; init; }

    /// <summary>The run's hyper-parameters; the config fills it and the run records it in <c>kiln.run.json</c>.</summary>
    public JsonObject Params => Run.Params;

    /// <summary>The configuration's name, recorded in checkpoints.</summary>
    public string? Config { get; init; }

    /// <summary>The checkpoint this run continues from (<c>kiln launch --resume</c>), or null for a run from step 0.</summary>
    public RunCheckpoint? Resume { get; init; }

    /// <summary>
    /// Set by the training loop that restored <see cref="Resume"/>: a trainer with stages (finetune) runs several loops,
    /// and only the one the checkpoint falls in restores it; the loops after it go on from there.
    /// </summary>
    public bool Resumed { get; set; }

    /// <summary>Write a checkpoint every this many steps (<c>--checkpoint-every</c>); 0: only when the run is stopped.</summary>
    public long CheckpointEvery { get; init; }

    /// <summary>Checkpoints kept (the newest first); above 1, a run can roll back to an earlier one (<c>core restore_checkpoint</c>).</summary>
    public int CheckpointKeep { get; init; } = 1;

    /// <summary>
    /// Writes a checkpoint: <paramref name="step"/> is the next step to train, <paramref name="tensors"/> and
    /// <paramref name="state"/> the trainer's. The metrics written so far are flushed first, so the recorded length covers
    /// every step before <paramref name="step"/>.
    /// </summary>
    public RunCheckpoint SaveCheckpoint(long step, int epoch, ReadOnlySpan<byte> tensors, JsonObject state)
    {
        Metrics.Flush();
        var metrics = new FileInfo(Files.MetricsPath);
        var checkpoint = new RunCheckpoint
        {
            Step = step, Epoch = epoch, MetricsBytes = metrics.Exists ? metrics.Length : 0, LedgerSeq = Kernel.LedgerSeq,
            Config = Config, Seed = Seed, MaxSteps = MaxSteps, Overrides = Overrides is null ? null : (JsonObject)Overrides.DeepClone(),
            DataDir = DataDir is null ? null : Path.GetFullPath(DataDir),
            Tensors = RunCheckpoint.TensorsFileAt(step), State = state, WallTime = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0,
        };
        checkpoint.Write(RunDir, tensors, CheckpointKeep);
        return checkpoint;
    }

    /// <summary>Called with the latest step and metrics, for progress displays.</summary>
    public Action<long, IReadOnlyList<(string Name, double Value)>>? Progress { get; init; }

    /// <summary>Exposes the optimizer's (and the loss's) dials to the kernel, and hands the model and optimizer to callbacks.</summary>
    public void Attach(object model, IOptimizerActuator optimizer, ILossActuator? loss = null)
    {
        Run.AddOptimizer(optimizer);
        if (loss is not null) Run.AddLoss(loss);
        Env.Model = model;
        Env.Optimizer = optimizer;
    }

    /// <summary>Waits <see cref="StepDelay"/>, returning early when the run is stopped.</summary>
    public void Pause()
    {
        if (StepDelay > TimeSpan.Zero) Stop.WaitHandle.WaitOne(StepDelay);
    }

    /// <summary>Writes a metrics line and reports progress.</summary>
    public void Record(long step, string phase, ReadOnlySpan<(string Name, double Value)> metrics)
    {
        Run.Log(step, metrics, phase);
        Progress?.Invoke(step, metrics.ToArray());
    }
}
