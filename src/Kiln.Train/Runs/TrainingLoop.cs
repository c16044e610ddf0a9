using Kiln.Protocol;
using Kiln.Train.Autograd;
using Kiln.Train.Data;
using Kiln.Train.Nn;
using Kiln.Train.Optim;
using Kiln.Train.Runs.Checkpoints;
using Kiln.Train.Tensors;

namespace Kiln.Train.Runs;

/// <summary>What one training step reports besides its loss.</summary>
public readonly record struct StepOutcome(double Loss, double Accuracy, (string Name, double Value)[] Extra);

/// <summary>A finished step as the loop saw it: after the optimizer's update, before the kernel's safe point.</summary>
public readonly record struct StepRecord(long Step, int Epoch, Batch Batch, StepOutcome Outcome, double Lr, double GradNorm);

/// <summary>
/// The loop the built-in runs share: batch, step, optimizer update, metrics, the kernel's safe points
/// (<c>train_step_end</c> after every update, <c>val_epoch_end</c> after every evaluation), the step delay and
/// the stop signal, and checkpoints. The kernel sees the step after the update that used the step's learning rate, so a change
/// applies from the next step on, in the original run and in its replay alike. Given its <see cref="TrainingState"/>, the
/// loop writes a checkpoint when it is stopped before its end (and every <see cref="TrainContext.CheckpointEvery"/>
/// steps), and a resumed run starts from its checkpoint: the kernel starts first (its ledger, <c>kiln.yaml</c>), then
/// the checkpoint's state replaces what the baseline set, since it holds every change made up to it.
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
        Action<StepRecord>? afterStep = null,
        TrainingState? state = null)
    {
        var env = ctx.Env;
        env.MaxSteps = ctx.MaxSteps;
        env.Phase = "train";
        // tune rolls back to the state it captured; without one it cannot mutate.
        if (state is not null) ctx.Kernel.SetRunState(state);
        // The baseline (kiln.yaml, the freeze state) applies before the first step, not at its end.
        ctx.Kernel.Start(env);
        var s = firstStep;
        if (ctx.Resume is { } resume && !ctx.Resumed)
        {
            ctx.Resumed = true;
            if (state is null) throw new InvalidOperationException("this training loop keeps no checkpoint state, so it cannot resume");
            if (resume.Step < firstStep || resume.Step > endStep)
                throw new InvalidOperationException($"the checkpoint's step {resume.Step} is outside this loop's steps [{firstStep}, {endStep})");
            state.Restore(ctx, resume);
            env.Epoch = batcher.Epoch;
            s = resume.Step;
        }
        // core restore_checkpoint rolls the model back to a checkpoint this run kept; the step goes on.
        env.RestoreCheckpoint = state is null ? null : atOrBefore =>
        {
            var checkpoint = (atOrBefore is { } at ? RunCheckpoint.ReadAt(ctx.RunDir, at) : RunCheckpoint.Read(ctx.RunDir))
                ?? throw new ProtocolException(atOrBefore is { } a ? $"no checkpoint kept at or before step {a}" : "the run has no checkpoint yet");
            state.Rollback(ctx, checkpoint);
            ctx.Log($"kiln: rolled back to the checkpoint of step {checkpoint.Step}");
            return checkpoint.Step;
        };
        // A run keeping periodic checkpoints also keeps its start, so a rollback can go back to step 0 (the autopilot's probe does).
        if (state is not null && ctx.CheckpointEvery > 0 && s == 0 && ctx.Resume is null) Checkpoint(ctx, state, 0);
        for (; s < endStep; s++)
        {
            if (ctx.Stop.IsCancellationRequested)
            {
                if (state is not null) Checkpoint(ctx, state, s);
                break;
            }
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
            if (state is not null && ctx.CheckpointEvery > 0 && (s + 1) % ctx.CheckpointEvery == 0 && s + 1 < endStep) Checkpoint(ctx, state, s + 1);
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

    /// <summary>A checkpoint that cannot be written is said, and training goes on (or ends as it was asked to): it is no reason to fail the run.</summary>
    private static void Checkpoint(TrainContext ctx, TrainingState state, long step)
    {
        try
        {
            state.Save(ctx, step);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ctx.Log($"kiln: cannot write the checkpoint at step {step} in {RunFiles.Checkpoint}: {ex.Message}");
        }
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
