using System.Text.Json.Nodes;
using Kiln.Modules.Opt;
using Kiln.Runs;
using Kiln.Testing;

namespace Kiln.Server.Tests;

/// <summary>A training loop of one's own, holding a <see cref="KilnRun"/> as docs/kernel.md shows, seen by the dashboard.</summary>
public sealed class OwnLoopTests
{
    [Fact]
    public async Task A_loop_holding_a_KilnRun_shows_in_the_dashboard_with_its_status_charts_and_dials()
    {
        await using var host = await ServerHost.StartAsync();
        var dir = host.Workspace.Sub("runs/mine");
        var dials = new OptimizerDials("sgd", 0.05);
        using (var run = KilnRun.Start(dir, new RunOptions { Config = "linear", StopOnSignals = false, Log = _ => { }, GitDirectory = null }))
        {
            run.AddOptimizer(dials);
            for (long step = 0; step < 50; step++)
            {
                run.Log(step, [("train_loss", 1.0 / (step + 1)), ("lr", dials.Lr(0, step))]);
                run.Apply(step);
            }
            run.Metrics!.Flush();

            var listed = await Wait.UntilAsync(() => host.GetOk("/api/runs"),
                answer => answer["runs"]!.AsArray().Any(r => (string)r!["id"]! == "runs/mine"), "the run in the list");
            var row = listed["runs"]!.AsArray().Single(r => (string)r!["id"]! == "runs/mine")!;
            Assert.Equal(("running", "run", "linear"), ((string)row["status"]!, (string)row["kind"]!, (string)row["config"]!));

            var metrics = await host.GetOk("/api/run/metrics?run=runs/mine&names=train_loss");
            Assert.Equal(50, metrics["series"]!["train_loss"]!["points"]!.GetValue<int>());
            var page = await host.GetOk("/api/run?run=runs/mine");
            Assert.Contains(page["actuators"]!["actuators"]!.AsArray(), a => (string)a!["module"]! == "opt" && (string)a["key"]! == "lr");
            run.End();
        }
        var done = await Wait.UntilAsync(() => host.GetOk("/api/run?run=runs/mine"),
            answer => (string)answer["run"]!["status"]! == "completed", "the run to read completed");
        Assert.Equal(1.0 / 50, done["run"]!["metrics"]!["train_loss"]!.GetValue<double>(), 12);
    }

    [Fact]
    public async Task A_loop_that_runs_only_the_kernel_shows_as_running_while_its_kernel_holds_the_run_and_not_after()
    {
        await using var host = await ServerHost.StartAsync();
        var dir = host.Workspace.Sub("runs/console");
        var dials = new OptimizerDials("sgd", 0.05);
        string Status(JsonNode answer) => (string)answer["runs"]!.AsArray().Single(r => (string)r!["id"]! == "runs/console")!["status"]!;
        using (var kernel = new Kiln.Kernel.KilnKernel(dir, new Kiln.Kernel.KernelOptions { Warn = _ => { } }))
        {
            kernel.AddOptimizer(dials);
            kernel.Apply(0, "train_step_end");
            var running = await Wait.UntilAsync(() => host.GetOk("/api/runs"),
                answer => answer["runs"]!.AsArray().Any(r => (string)r!["id"]! == "runs/console"), "the loop in the list");
            Assert.Equal("running", Status(running));
            Assert.Equal("loop", (string)running["runs"]!.AsArray().Single(r => (string)r!["id"]! == "runs/console")!["kind"]!);
            kernel.End(1);
        }
        await Wait.UntilAsync(() => host.GetOk("/api/runs"), answer => Status(answer) == "unknown", "the loop to read as not running once its kernel let go");
    }
}
