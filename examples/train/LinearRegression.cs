// A training function in C#, run by `kiln launch`:
//   ./kiln launch --train-fn examples/train/LinearRegression.cs:Examples.LinearRegression.Train --max-steps 500
// It fits y = 3x + 1 with plain SGD on Kiln.Train's tensors; `kiln --dir <run> set lr=…` steers it.
using Kiln.Modules.Opt;
using Kiln.Train.Autograd;
using Kiln.Train.Nn;
using Kiln.Train.Optim;
using Kiln.Runs;
using Kiln.Train.Tensors;

namespace Examples;

public static class LinearRegression
{
    public static void Train(TrainContext ctx)
    {
        var rng = Rng.For(ctx.Seed, "model");
        var model = new Linear(1, 1, rng);
        var optimizer = new Sgd([new ParamGroup("0", model.Parameters(), 0.05)]);
        ctx.Kernel.AddOptimizer(optimizer);
        var x = new Tensor([64, 1]);
        var y = new Tensor([64, 1]);
        var data = Rng.For(ctx.Seed, "data");
        for (long step = 0; step < ctx.MaxSteps && !ctx.Stop.IsCancellationRequested; step++)
        {
            for (var i = 0; i < 64; i++)
            {
                x.Data[i] = data.Uniform(-1f, 1f);
                y.Data[i] = 3f * x.Data[i] + 1f + 0.1f * (float)data.Normal();
            }
            optimizer.ZeroGrad();
            double loss;
            using (var tape = new Tape())
            {
                var l = Ops.Mse(model.Forward(x), y);
                tape.Backward(l);
                loss = l.Item();
            }
            optimizer.Step(step);
            ctx.Record(step, "train", [("train_loss", loss), ("lr", optimizer.Get(0, OptimizerKey.Lr, step)),
                ("w", model.Weight.Data[0]), ("b", model.Bias!.Data[0])]);
            ctx.Kernel.Apply(step, "train_step_end", ctx.Env);
            ctx.Pause();
        }
    }
}
