using Kiln.Runs;
using Kiln.Train.Autograd;
using Kiln.Train.Data;
using Kiln.Train.Nn;
using Kiln.Train.Optim;
using Kiln.Train.Runs;
using Kiln.Train.Runs.Checkpoints;
using Kiln.Train.Tensors;

namespace Kiln.Autobench;

/// <summary>
/// The training function of every benchmark run: the task's model under the setup's optimizer, through the built-in
/// runs' <see cref="TrainingLoop"/>, so the kernel's safe points, the metrics and the dials are those of <c>kiln launch</c>.
/// Metrics: train_loss, accuracy, lr, grad_norm; val_loss and val_accuracy every <see cref="BenchTask.EvalEvery"/> steps.
/// </summary>
public static class BenchTrainer
{
    public static void Train(TrainContext ctx, BenchTask task, (Dataset Train, Dataset Val, string Source) data, BenchSetup setup)
    {
        var (train, val, source) = data;
        ctx.Params["task"] = task.Name;
        ctx.Params["dataset"] = source;
        ctx.Params["optimizer"] = setup.Optimizer;
        ctx.Params["lr"] = setup.Lr;
        var model = task.Model(train, Rng.For(ctx.Seed, "model"));
        var group = new ParamGroup("0", model.Parameters(), setup.Lr, setup.Schedule);
        var scheduleFree = setup.Optimizer == BenchSetup.ScheduleFree ? new ScheduleFreeAdamW([group], setup.Warmup) : null;
        Optimizer optimizer = (Optimizer?)scheduleFree ?? (setup.Optimizer == BenchSetup.Adam
            ? new Adam([group])
            : throw new ArgumentException($"unknown optimizer {setup.Optimizer}", nameof(setup)));
        ctx.Attach(model, optimizer);
        var batcher = new Batcher(train, task.BatchSize, shuffle: true, ctx.Seed);
        TrainingLoop.Run(ctx, batcher, optimizer, 0, ctx.MaxSteps,
            step: (batch, _) => Step(model, batch),
            evaluate: _ =>
            {
                // Schedule-Free is evaluated at x, its averaged point, and trains on at y.
                scheduleFree?.Eval();
                try
                {
                    return Evaluate(model, val);
                }
                finally
                {
                    scheduleFree?.Train();
                }
            },
            evalEvery: task.EvalEvery,
            // Checkpoints (when the run keeps them) let the autopilot roll a diverged run back.
            state: new TrainingState(model, optimizer, batcher));
    }

    /// <summary>One training step of a classifier: forward, cross-entropy, backward (the optimizer's update is the caller's).</summary>
    public static StepOutcome Step(Module model, Batch batch)
    {
        using var tape = new Tape();
        var logits = model.Forward(batch.X);
        var ce = Ops.SoftmaxCrossEntropy(logits, batch.Labels);
        tape.Backward(ce);
        return new StepOutcome(ce.Item(), (double)TrainingLoop.CountCorrect(logits, batch.Labels) / batch.Size, []);
    }

    /// <summary>The validation metrics every bench run reports.</summary>
    public static (string Name, double Value)[] Evaluate(Module model, Dataset val)
    {
        var (l, a) = TrainingLoop.EvaluateClassifier(model, val);
        return [("val_loss", l), ("val_accuracy", a)];
    }
}
