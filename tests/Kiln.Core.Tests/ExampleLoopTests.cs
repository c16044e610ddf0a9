using Kiln.Kernel;
using Kiln.Modules.Opt;
using Kiln.Modules.Loss;
using Kiln.Protocol;
using Kiln.Testing;
using Kiln.Modules;

namespace Kiln.Core.Tests;

/// <summary>The loop of docs/kernel.md, steered from outside while it trains.</summary>
public sealed class ExampleLoopTests
{
    [Fact]
    public void A_plain_loop_with_the_kernel_is_steered_and_its_changes_are_ledgered()
    {
        using var dir = new TempDir("example");
        var runDir = dir.Path;
        var run = new RunDir(runDir);
        var data = Enumerable.Range(0, 20).Select(i => (x: i / 10.0, y: 3 * (i / 10.0) + 1)).ToArray();
        var lrSeen = new List<double>();

        var dials = new OptimizerDials("sgd", 0.05, supported: [OptimizerKey.WeightDecay, OptimizerKey.ClipNorm]);
        var loss = new LossDials([("mse", 1.0)]);
        using (var kernel = new KilnKernel(runDir, new KernelOptions { PollInterval = TimeSpan.Zero }))
        {
            kernel.AddOptimizer(dials);
            kernel.AddLoss(loss);
            var env = new KernelEnv { MaxSteps = 200, Phase = "train" };
            double w = 0, b = 0;
            for (long step = 0; step < 200; step++)
            {
                if (step == 100) run.Set("opt", """{"lr": 0.01}""");          // someone types `kiln set lr=0.01`
                var (x, y) = data[(int)(step % data.Length)];
                var err = w * x + b - y;
                var scale = loss.Effective("mse", step);
                var lr = dials.Lr(0, step);
                w -= lr * (scale * 2 * err * x + dials[0].WeightDecay * w);
                b -= lr * scale * 2 * err;
                env.Loss = err * err;
                kernel.Apply(step, "train_step_end", env);
                lrSeen.Add(dials.Lr(0, step));
            }
            kernel.End(199, env);
            Assert.InRange(w, 2.5, 3.5);
            Assert.InRange(b, 0.5, 1.5);
        }
        Assert.Equal(0.05, lrSeen[99]);
        Assert.Equal(0.01, lrSeen[100]);
        var change = Assert.Single(run.Ledger(), l => l.Module == "opt");
        Assert.Equal((100L, Decision.Applied), (change.Step!.Value, change.Decision));
    }
}
