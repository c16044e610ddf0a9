using Kiln.Modules.Loss;
using Kiln.Modules.Opt;
using Kiln.Train.Autograd;
using Kiln.Train.Data;
using Kiln.Train.Nn;
using Kiln.Train.Optim;
using Kiln.Train.Runs.Checkpoints;
using Kiln.Train.Serialization;
using Kiln.Train.Tensors;

namespace Kiln.Train.Runs.BuiltIn;

/// <summary>A shared trunk with a classification head and a reconstruction (autoencoder) head.</summary>
public sealed class MultitaskNet : Module
{
    public MultitaskNet(int inputs, int classes, int hidden, int code, Rng rng)
    {
        Trunk = Child("trunk", new Sequential(new Flatten(), new Linear(inputs, hidden, rng), new ReLU(), new Linear(hidden, code, rng), new ReLU()));
        ClsHead = Child("cls_head", new Linear(code, classes, rng));
        ReconHead = Child("recon_head", new Sequential(new Linear(code, hidden, rng), new ReLU(), new Linear(hidden, inputs, rng), new Sigmoid()));
    }

    public Sequential Trunk { get; }
    public Linear ClsHead { get; }
    public Sequential ReconHead { get; }

    public override Tensor Forward(Tensor x) => ClsHead.Forward(Trunk.Forward(x));

    public (Tensor Logits, Tensor Reconstruction) Both(Tensor x)
    {
        var features = Trunk.Forward(x);
        return (ClsHead.Forward(features), ReconHead.Forward(features));
    }
}

/// <summary>
/// <c>multitask</c>: loss = cls_w·cross-entropy + recon_w·MSE(reconstruction, input), with both terms switchable
/// (<c>terms.cls</c>, <c>terms.recon</c>) and rampable (<c>ramps.recon={…}</c>) while it trains; AdamW under a cosine
/// schedule with warm-up. Metrics per task.
/// </summary>
public static class MultitaskRun
{
    public const long DefaultSteps = 2000;

    public static void Train(TrainContext ctx)
    {
        var p = new ConfigParams("multitask", new()
        {
            ["batch_size"] = 128, ["lr"] = 2e-3, ["weight_decay"] = 1e-4, ["hidden"] = 256, ["code"] = 64,
            ["cls_w"] = 1.0, ["recon_w"] = 1.0, ["warmup_steps"] = 100, ["eval_every"] = 200,
        }, ctx.Overrides, ctx.Params);
        var (train, test) = DataSource.Images(ctx);
        var model = new MultitaskNet(train.FeatureSize, train.Classes, p.Int("hidden"), p.Int("code"), Rng.For(ctx.Seed, "model"));
        var warmup = Math.Min(p.Int("warmup_steps"), Math.Max(0, ctx.MaxSteps - 1));
        var schedule = new CosineSchedule(Math.Max(1, ctx.MaxSteps), warmup, 0.05);
        var optimizer = new Adam([new ParamGroup("0", model.Parameters(), p.Double("lr"), schedule) { WeightDecay = p.Double("weight_decay") }], decoupledWeightDecay: true);
        var loss = new LossDials([("cls", p.Double("cls_w")), ("recon", p.Double("recon_w"))]);
        ctx.Attach(model, optimizer, loss);
        var batcher = new Batcher(train, p.Int("batch_size"), shuffle: true, ctx.Seed);

        TrainingLoop.Run(ctx, batcher, optimizer, 0, ctx.MaxSteps,
            step: (batch, s) =>
            {
                using var tape = new Tape();
                var (logits, recon) = model.Both(batch.X);
                var ce = Ops.SoftmaxCrossEntropy(logits, batch.Labels);
                var mse = Ops.Mse(recon, Ops.Reshape(batch.X, batch.Size, -1));
                var wc = loss.Effective("cls", s);
                var wr = loss.Effective("recon", s);
                Tensor? total = null;
                if (wc != 0) total = Ops.Scale(ce, (float)wc);
                if (wr != 0) total = total is null ? Ops.Scale(mse, (float)wr) : Ops.Add(total, Ops.Scale(mse, (float)wr));
                if (total is not null) tape.Backward(total);
                return new StepOutcome(total?.Item() ?? 0.0, (double)TrainingLoop.CountCorrect(logits, batch.Labels) / batch.Size,
                    [("cls_loss", ce.Item()), ("recon_loss", mse.Item()), ("cls_w", wc), ("recon_w", wr)]);
            },
            evaluate: s => Evaluate(model, test, loss, s),
            evalEvery: p.Int("eval_every"),
            state: new TrainingState(model, optimizer, batcher, loss));
        Safetensors.Save(Path.Combine(ctx.RunDir, "model.safetensors"), model.StateDict(), new Dictionary<string, string> { ["config"] = "multitask" });
    }

    private static (string, double)[] Evaluate(MultitaskNet model, Dataset data, LossDials loss, long step)
    {
        model.SetTraining(false);
        try
        {
            double ce = 0, mse = 0;
            long correct = 0;
            var batcher = new Batcher(data, 1000, shuffle: false, seed: 0);
            while (batcher.Next(out var batch))
            {
                using var tape = new Tape(recordGradients: false);
                var (logits, recon) = model.Both(batch!.X);
                ce += Ops.SoftmaxCrossEntropy(logits, batch.Labels).Item() * batch.Size;
                mse += Ops.Mse(recon, Ops.Reshape(batch.X, batch.Size, -1)).Item() * batch.Size;
                correct += TrainingLoop.CountCorrect(logits, batch.Labels);
            }
            ce /= data.Count;
            mse /= data.Count;
            var total = loss.Effective("cls", step) * ce + loss.Effective("recon", step) * mse;
            return [("val_loss", total), ("val_cls_loss", ce), ("val_recon_loss", mse), ("val_accuracy", (double)correct / data.Count)];
        }
        finally
        {
            model.SetTraining(true);
        }
    }
}
