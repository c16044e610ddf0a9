using Kiln.Train.Autograd;
using Kiln.Train.Data;
using Kiln.Train.Nn;
using Kiln.Train.Optim;
using Kiln.Train.Tensors;

namespace Kiln.Train.Runs;

/// <summary>What one training step reports besides its loss.</summary>
public readonly record struct StepOutcome(double Loss, double Accuracy, (string Name, double Value)[] Extra);

/// <summary>A finished step as the loop saw it: after the optimizer's update, before the kernel's safe point.</summary>
public readonly record struct StepRecord(long Step, int Epoch, Batch Batch, StepOutcome Outcome, double Lr, double GradNorm);

/// <summary>
/// The loop the built-in runs share: batch, step, optimizer update, metrics, the kernel's safe points
/// (<c>train_step_end</c> after every update, <c>val_epoch_end</c> after every evaluation), the step delay and
/// the stop signal. The kernel sees the step after the update that used the step's learning rate, so a change
/// applies from the next step on, in the original run and in its replay alike.
/// </summary>
public static class TrainingLoop
{
    /// <returns>The step after the last one taken (where a following stage starts).</returns>
    public static long Run(
        TrainContext ctx,
        Batcher batcher,
        Optimizer optimizer,
        long firstStep,
        long endStep,
        Func<Batch, long, StepOutcome> step,
        Func<long, (string Name, double Value)[]> evaluate,
        int evalEvery,
        Func<long, (string Name, double Value)[]>? extraMetrics = null,
        Action<StepRecord>? afterStep = null)
    {
        var env = ctx.Env;
        env.MaxSteps = ctx.MaxSteps;
        env.Phase = "train";
        // The baseline (kiln.yaml, the freeze state) applies before the first step, not at its end.
        ctx.Kernel.Start(env);
        var s = firstStep;
        for (; s < endStep; s++)
        {
            if (ctx.Stop.IsCancellationRequested) break;
            if (!batcher.Next(out var batch) && !batcher.Next(out batch)) throw new InvalidOperationException("the training set has no batches");
            env.Epoch = batcher.Epoch;
            optimizer.ZeroGrad();
            var outcome = step(batch!, s);
            var gradNorm = optimizer.Step(s);
            var lr = optimizer.ParamGroups[^1].Lr.At(s);
            var extra = extraMetrics?.Invoke(s) ?? [];
            afterStep?.Invoke(new StepRecord(s, batcher.Epoch, batch!, outcome, lr, gradNorm));
            ctx.Record(s, "train", [("train_loss", outcome.Loss), ("accuracy", outcome.Accuracy), ("lr", lr), ("grad_norm", gradNorm), .. outcome.Extra, .. extra]);
            env.Loss = outcome.Loss;
            env.Items["batch_x"] = batch.X;
            ctx.Kernel.Apply(s, "train_step_end", env);
            if ((s + 1) % evalEvery == 0 || s == endStep - 1)
            {
                env.Phase = "val";
                ctx.Record(s, "val", evaluate(s));
                ctx.Kernel.Apply(s, "val_epoch_end", env);
                env.Phase = "train";
            }
            ctx.Pause();
            if (env.StopRequest is { } reason)
            {
                ctx.Log(reason);
                ctx.Params["early_stop"] = reason;
                return endStep;
            }
        }
        return s;
    }

    /// <summary>Mean loss and accuracy of a classifier over a dataset, in evaluation mode, without gradients.</summary>
    public static (double Loss, double Accuracy) EvaluateClassifier(Module model, Dataset data, int batchSize = 1000)
    {
        model.SetTraining(false);
        try
        {
            double loss = 0;
            long correct = 0;
            var batcher = new Batcher(data, batchSize, shuffle: false, seed: 0);
            while (batcher.Next(out var batch))
            {
                using var tape = new Tape(recordGradients: false);
                var logits = model.Forward(batch!.X);
                loss += Ops.SoftmaxCrossEntropy(logits, batch.Labels).Item() * batch.Size;
                correct += CountCorrect(logits, batch.Labels);
            }
            return (loss / data.Count, (double)correct / data.Count);
        }
        finally
        {
            model.SetTraining(true);
        }
    }

    public static int CountCorrect(Tensor logits, ReadOnlySpan<int> labels)
    {
        var predicted = Ops.ArgMax(logits);
        var correct = 0;
        for (var i = 0; i < labels.Length; i++) if (predicted[i] == labels[i]) correct++;
        return correct;
    }
}
