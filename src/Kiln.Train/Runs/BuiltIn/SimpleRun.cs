using Kiln.Modules.Loss;
using Kiln.Train.Autograd;
using Kiln.Train.Data;
using Kiln.Train.Nn;
using Kiln.Train.Optim;
using Kiln.Train.Runs.Checkpoints;
using Kiln.Train.Serialization;
using Kiln.Train.Tensors;

namespace Kiln.Train.Runs.BuiltIn;

/// <summary>
/// <c>simple</c>: an MLP classifier (784-256-128-10, Adam) on Fashion-MNIST. Metrics: train_loss, val_loss,
/// accuracy, val_accuracy, lr, grad_norm. Dials: the optimizer (<c>lr</c>, …) and the loss weight <c>cls_w</c>.
/// </summary>
public static class SimpleRun
{
    public const long DefaultSteps = 2000;

    public static void Train(TrainContext ctx)
    {
        var p = new ConfigParams("simple", new()
        {
            ["batch_size"] = 128, ["lr"] = 1e-3, ["weight_decay"] = 0.0, ["hidden1"] = 256, ["hidden2"] = 128, ["eval_every"] = 200,
        }, ctx.Overrides, ctx.Params);
        var (train, test) = DataSource.Images(ctx);
        var rng = Rng.For(ctx.Seed, "model");
        var model = new Sequential(
            new Flatten(),
            new Linear(train.FeatureSize, p.Int("hidden1"), rng), new ReLU(),
            new Linear(p.Int("hidden1"), p.Int("hidden2"), rng), new ReLU(),
            new Linear(p.Int("hidden2"), train.Classes, rng));
        var optimizer = new Adam([new ParamGroup("0", model.Parameters(), p.Double("lr")) { WeightDecay = p.Double("weight_decay") }]);
        var loss = new LossDials([("cls", 1.0)]);
        ctx.Attach(model, optimizer, loss);
        var batcher = new Batcher(train, p.Int("batch_size"), shuffle: true, ctx.Seed);

        TrainingLoop.Run(ctx, batcher, optimizer, 0, ctx.MaxSteps,
            step: (batch, s) =>
            {
                using var tape = new Tape();
                var logits = model.Forward(batch.X);
                var ce = Ops.SoftmaxCrossEntropy(logits, batch.Labels);
                var w = loss.Effective("cls", s);
                if (w != 0) tape.Backward(w == 1 ? ce : Ops.Scale(ce, (float)w));
                return new StepOutcome(ce.Item(), (double)TrainingLoop.CountCorrect(logits, batch.Labels) / batch.Size, [("cls_w", w)]);
            },
            evaluate: _ =>
            {
                var (l, a) = TrainingLoop.EvaluateClassifier(model, test);
                return [("val_loss", l), ("val_accuracy", a)];
            },
            evalEvery: p.Int("eval_every"),
            state: new TrainingState(model, optimizer, batcher, loss));
        Safetensors.Save(Path.Combine(ctx.RunDir, "model.safetensors"), model.StateDict(), new Dictionary<string, string> { ["config"] = "simple" });
    }
}
