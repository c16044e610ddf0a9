using System.Text.Json.Nodes;
using Kiln.Control;
using Kiln.Modules.Loss;
using Kiln.Protocol;
using Kiln.Runs;
using Kiln.Testing;

namespace Kiln.Core.Tests;

/// <summary>The launcher around a training function: its budget reaches the kernel's environment.</summary>
public sealed class RunLauncherTests
{
    [Fact]
    public void A_training_function_s_env_knows_the_step_budget_so_ramps_given_as_a_fraction_work()
    {
        using var tmp = new TempDir("launcher");
        var dir = tmp.Sub("run");
        new RunControl(dir).Init();
        new RunControl(dir).SetParams("loss", null, new JsonObject
        {
            ["ramps.aux"] = new JsonObject { ["type"] = "linear", ["warmup_frac"] = 0.5, ["start"] = 0.0, ["end"] = 1.0 },
        });
        long? budget = null;
        var loss = new LossDials([("cls", 1.0), ("aux", 1.0)]);
        var fn = new TrainFunction("fraction", 100, ctx =>
        {
            budget = ctx.Env.MaxSteps;
            ctx.Run.AddLoss(loss);
            for (long s = 0; s < ctx.MaxSteps; s++) ctx.Kernel.Apply(s, "train_step_end", ctx.Env);
        }, null);
        var result = RunLauncher.Run(new LaunchOptions { Function = fn, RunDir = dir, MaxSteps = 8 });
        Assert.Equal(RunInfo.Completed, result.Status);
        Assert.Equal(8, budget);
        var ramp = new RunControl(dir).Status().Handles.Single(h => h.Module == "loss");
        Assert.Equal(Decision.Applied, ramp.Last.Decision);
        Assert.Equal(0.5, loss.Effective("aux", 2), 12);
    }
}
