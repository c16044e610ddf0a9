using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Kiln.Modules.Loss;
using Kiln.Modules.Opt;
using Kiln.Protocol;
using Kiln.Train.Autograd;
using Kiln.Train.Data;
using Kiln.Train.Nn;
using Kiln.Train.Optim;
using Kiln.Train.Runs.Checkpoints;
using Kiln.Train.Serialization;
using Kiln.Train.Tensors;

namespace Kiln.Train.Runs.BuiltIn;

/// <summary>
/// <c>finetune</c>: pre-train on classes 0–4 for the first half of the steps, then fine-tune on classes 5–9 with two
/// parameter groups, <c>backbone</c> (its rate drops tenfold at the switch, by schedule) and <c>head</c>; the backbone
/// can be frozen (<c>--param freeze_backbone=true</c>). <c>feature_drift</c> is 1 − the mean cosine similarity between
/// the backbone's features of a fixed probe batch now and at the switch; <c>val_accuracy_old</c> tracks forgetting.
/// </summary>
public static class FinetuneRun
{
    public const long DefaultSteps = 1600;

    public static void Train(TrainContext ctx)
    {
        var p = new ConfigParams("finetune", new()
        {
            ["batch_size"] = 128, ["lr_backbone"] = 1e-3, ["lr_head"] = 1e-3, ["backbone_drop"] = 0.1, ["freeze_backbone"] = false,
            ["pretrain_steps"] = -1, ["eval_every"] = 100,
        }, ctx.Overrides, ctx.Params);
        var (train, test) = DataSource.Images(ctx);
        var oldTrain = train.WhereLabel(l => l < 5, "train-0-4");
        var newTrain = train.WhereLabel(l => l >= 5, "train-5-9");
        var oldTest = test.WhereLabel(l => l < 5, "test-0-4");
        var newTest = test.WhereLabel(l => l >= 5, "test-5-9");
        var switchAt = p.Int("pretrain_steps") >= 0 ? p.Int("pretrain_steps") : ctx.MaxSteps / 2;
        ctx.Params["pretrain_steps"] = switchAt;

        var rng = Rng.For(ctx.Seed, "model");
        var backbone = new Sequential(new Flatten(), new Linear(train.FeatureSize, 256, rng), new ReLU(), new Linear(256, 128, rng), new ReLU());
        var head = new Linear(128, train.Classes, rng);
        var model = new Sequential(backbone, head);
        var backboneGroup = new ParamGroup("backbone", backbone.Parameters(), p.Double("lr_backbone"),
            new PiecewiseSchedule([switchAt], [1.0, p.Double("backbone_drop")]));
        var headGroup = new ParamGroup("head", head.Parameters(), p.Double("lr_head"));
        var optimizer = new Adam([backboneGroup, headGroup]);
        var loss = new LossDials([("cls", 1.0)]);
        ctx.Attach(model, optimizer, loss);

        var probe = newTest.Subset(Enumerable.Range(0, Math.Min(256, newTest.Count)).ToArray(), "probe");
        float[]? reference = null;
        double drift = 0;
        var stage = 1;

        StepOutcome Step(Batch batch, long s)
        {
            using var tape = new Tape();
            var logits = model.Forward(batch.X);
            var ce = Ops.SoftmaxCrossEntropy(logits, batch.Labels);
            var w = loss.Effective("cls", s);
            if (w != 0) tape.Backward(w == 1 ? ce : Ops.Scale(ce, (float)w));
            return new StepOutcome(ce.Item(), (double)TrainingLoop.CountCorrect(logits, batch.Labels) / batch.Size, [("stage", stage)]);
        }

        (string, double)[] Extra(long s) => [("lr_backbone", backboneGroup.Frozen ? 0 : backboneGroup.Lr.At(s)), ("lr_head", headGroup.Lr.At(s))];

        var pretrain = new Batcher(oldTrain, p.Int("batch_size"), shuffle: true, ctx.Seed);
        var finetune = new Batcher(newTrain, p.Int("batch_size"), shuffle: true, ctx.Seed + 1);
        // Stage 2's checkpoints keep the probe's features at the switch (drift is measured against them); a checkpoint
        // taken at the switch itself has none yet, and they are taken from the restored weights.
        var stage2 = new TrainingState(model, optimizer, finetune, loss)
        {
            SaveTrainer = () => new JsonObject
            {
                ["reference"] = reference is null ? null : Convert.ToBase64String(MemoryMarshal.AsBytes(reference.AsSpan())),
                ["drift"] = drift,
            },
            RestoreTrainer = o =>
            {
                reference = o["reference"] is { } r ? MemoryMarshal.Cast<byte, float>(Convert.FromBase64String(JsonValues.GetString(r, "trainer.reference"))).ToArray() : Features(backbone, probe);
                drift = JsonValues.GetDouble(o["drift"], "trainer.drift");
            },
        };
        var next = switchAt;
        // A run resumed in stage 2 skips stage 1: the checkpoint holds everything it did.
        if (ctx.Resume is not { } resume || resume.Step < switchAt)
        {
            next = TrainingLoop.Run(ctx, pretrain, optimizer, 0, Math.Min(switchAt, ctx.MaxSteps),
                Step,
                evaluate: _ =>
                {
                    var (l, a) = TrainingLoop.EvaluateClassifier(model, oldTest);
                    return [("val_loss", l), ("val_accuracy", a)];
                },
                p.Int("eval_every"), Extra, state: new TrainingState(model, optimizer, pretrain, loss));
            if (next == switchAt && next < ctx.MaxSteps && ctx.Stop.IsCancellationRequested)
            {
                // Stopped at the switch: the checkpoint is stage 2's, before its first step.
                backboneGroup.Frozen = p.Bool("freeze_backbone");
                stage2.Save(ctx, next);
            }
        }

        if (next < ctx.MaxSteps && !ctx.Stop.IsCancellationRequested)
        {
            stage = 2;
            backboneGroup.Frozen = p.Bool("freeze_backbone");
            // A run resumed in stage 2 takes the switch's features from its checkpoint.
            reference = ctx.Resume is not null && !ctx.Resumed ? null : Features(backbone, probe);
            ctx.Log($"finetune: pre-training on classes 0-4 ended at step {next}; fine-tuning on classes 5-9{(backboneGroup.Frozen ? " with the backbone frozen" : "")}");
            TrainingLoop.Run(ctx, finetune, optimizer, next, ctx.MaxSteps,
                Step,
                evaluate: _ =>
                {
                    drift = Drift(reference!, Features(backbone, probe), 128);
                    var (l, a) = TrainingLoop.EvaluateClassifier(model, newTest);
                    var (_, old) = TrainingLoop.EvaluateClassifier(model, oldTest);
                    return [("val_loss", l), ("val_accuracy", a), ("val_accuracy_old", old), ("feature_drift", drift)];
                },
                p.Int("eval_every"), s => [.. Extra(s), ("feature_drift", drift)], state: stage2);
        }
        Safetensors.Save(Path.Combine(ctx.RunDir, "model.safetensors"), model.StateDict(), new Dictionary<string, string> { ["config"] = "finetune" });
    }

    private static float[] Features(Module backbone, Dataset probe)
    {
        backbone.SetTraining(false);
        try
        {
            var batcher = new Batcher(probe, probe.Count, shuffle: false, seed: 0);
            batcher.Next(out var batch);
            using var tape = new Tape(recordGradients: false);
            return backbone.Forward(batch!.X).ToArray();
        }
        finally
        {
            backbone.SetTraining(true);
        }
    }

    /// <summary>1 − mean cosine similarity of corresponding feature rows.</summary>
    internal static double Drift(float[] a, float[] b, int width)
    {
        var rows = a.Length / width;
        double sum = 0;
        for (var r = 0; r < rows; r++)
        {
            var x = a.AsSpan(r * width, width);
            var y = b.AsSpan(r * width, width);
            var denom = Math.Sqrt(TensorPrimitives.SumOfSquares(x)) * Math.Sqrt(TensorPrimitives.SumOfSquares(y));
            sum += denom == 0 ? 1.0 : TensorPrimitives.Dot(x, y) / denom;
        }
        return 1.0 - sum / rows;
    }
}
