using System.Text.Json.Nodes;
using Kiln.Kernel;
using Kiln.Modules.Opt;
using Kiln.Protocol;
using static Microsoft.Playwright.Assertions;

namespace Kiln.Dashboard.Tests;

/// <summary>What the pages say is what the run is: current dials, labelled axes, every parameter, key metrics first, loops as running.</summary>
[Collection(DashboardCollection.Name)]
public sealed class ClarityTests(DashboardFixture fixture)
{
    [Fact]
    public async Task The_controls_show_the_rate_a_schedule_moves_now_beside_its_base()
    {
        using var stop = new CancellationTokenSource();
        var (id, dir, run) = fixture.Launch("scheduled", stop.Token, "multitask",
            new JsonObject { ["hidden"] = 16, ["code"] = 8, ["batch_size"] = 16, ["warmup_steps"] = 400, ["eval_every"] = 1000 }, maxSteps: 5000);
        try
        {
            await DashboardFixture.WaitUntilAsync(() => File.Exists(new RunFiles(dir).ActuatorsPath), run, dir);
            await using var session = await PageSession.OpenAsync(fixture, $"#/run?run={Uri.EscapeDataString(id)}");
            var page = session.Page;
            var controls = page.GetByTestId("controls");
            await Expect(controls.GetByTestId("controls-as-of")).ToHaveTextAsync("current values");
            var now = controls.GetByTestId("lr-now");
            await Expect(now.GetByTestId("lr-base")).ToContainTextAsync("base 0.002");
            await Expect(now.GetByTestId("lr-base")).ToContainTextAsync("cosine");
            // Warming up, the rate moves every step: the page follows it with no command sent.
            var first = await now.InnerTextAsync();
            await Expect(now).Not.ToHaveTextAsync(first, new() { Timeout = 15_000 });
            Assert.False(File.Exists(new RunFiles(dir).CommandsPath));
            await session.AssertCleanAsync();
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }

    [Fact]
    public async Task Axes_are_labelled_every_parameter_is_in_the_header_and_browser_notices_are_no_errors()
    {
        await using var session = await PageSession.OpenAsync(fixture, $"#/run?run={Uri.EscapeDataString(fixture.LiveId)}");
        var page = session.Page;
        var chart = page.Locator("[data-testid=metric-chart][data-metric=train_loss]");
        await Expect(chart).ToHaveAttributeAsync("data-x-label", "step");
        await Expect(chart).ToHaveAttributeAsync("data-y-label", "train_loss");

        // The launch gave four parameters; the header shows those and the ones the trainer filled in (lr, seed of the data…).
        var header = page.GetByTestId("run-params");
        await Expect(header.Locator("[data-param=hidden1]")).ToHaveTextAsync("hidden1=32");
        await Expect(header.Locator("[data-param=lr]")).ToBeVisibleAsync();
        await Expect(header.Locator("[data-param=max_steps]")).ToHaveTextAsync("max_steps=50000");

        // What chromium reports when a layout settles over two frames is a notice, not an error of the page.
        await page.EvaluateAsync("() => window.dispatchEvent(new ErrorEvent('error', { message: 'ResizeObserver loop completed with undelivered notifications.' }))");
        await page.SetViewportSizeAsync(900, 700);
        await page.SetViewportSizeAsync(1440, 1000);
        await Expect(chart.Locator("canvas").First).ToBeVisibleAsync();
        await Expect(page.GetByTestId("error-message")).ToHaveCountAsync(0);
        await session.AssertCleanAsync();
    }

    [Fact]
    public async Task The_runs_list_shows_the_key_metrics_first()
    {
        await using var session = await PageSession.OpenAsync(fixture, "#/runs");
        var page = session.Page;
        var chips = page.Locator($"[data-testid=runs-row][data-run='{DashboardFixture.StatsRun}'] td.metrics .chip .k");
        await Expect(chips.First).ToHaveTextAsync("val_loss");
        await Expect(chips.Nth(1)).ToHaveTextAsync("train_loss");
        await session.AssertCleanAsync();
    }

    [Fact]
    public async Task A_loop_that_runs_the_kernel_alone_reads_as_running_and_its_commands_are_not_said_to_wait()
    {
        var dir = Path.Combine(fixture.Root, "runs", "console-loop");
        using var stop = new CancellationTokenSource();
        var dials = new OptimizerDials("sgd", 0.05);
        var ready = new TaskCompletionSource();
        var loop = Task.Run(() =>
        {
            using var kernel = new KilnKernel(dir, new KernelOptions { Warn = _ => { } });
            kernel.AddOptimizer(dials);
            for (long step = 0; !stop.IsCancellationRequested; step++)
            {
                kernel.Apply(step, "train_step_end");
                ready.TrySetResult();
                Thread.Sleep(20);
            }
            kernel.End();
        });
        try
        {
            await ready.Task.WaitAsync(TimeSpan.FromSeconds(30));
            await using var session = await PageSession.OpenAsync(fixture, "#/runs");
            var page = session.Page;
            var row = page.Locator("[data-testid=runs-row][data-run='runs/console-loop']");
            await Expect(row.Locator("[data-status]")).ToHaveTextAsync("running");
            await row.GetByRole(Microsoft.Playwright.AriaRole.Link).ClickAsync();
            await Expect(page.GetByTestId("run-status")).ToHaveTextAsync("running");
            var controls = page.GetByTestId("controls");
            await Expect(controls.Locator("[data-testid=control-lr]")).ToBeVisibleAsync();
            await Expect(controls).Not.ToContainTextAsync("wait in its inbox");

            // A change from the page is applied by the loop, and said so.
            await controls.Locator("[data-testid=control-lr]").FillAsync("0.01");
            await controls.Locator("[data-testid=control-lr]").PressAsync("Enter");
            await Expect(controls.GetByTestId("command-feedback").Filter(new() { HasText = "applied" })).ToHaveCountAsync(1);
            Assert.Equal(0.01, dials.Lr(0, 0), 12);
            await session.AssertCleanAsync();
        }
        finally
        {
            await stop.CancelAsync();
            await loop;
        }
    }
}
