using Kiln.Autopilot.Actions;
using Kiln.Autopilot.Engine;
using Kiln.Autopilot.Rules;
using Kiln.Protocol;
using static Microsoft.Playwright.Assertions;

namespace Kiln.Dashboard.Tests;

/// <summary>The run page's autopilot panel: a suggestion with its rationale, accepted from the page and applied by the run's kernel.</summary>
[Collection(DashboardCollection.Name)]
public sealed class AutopilotPanelTests(DashboardFixture fixture)
{
    [Fact]
    public async Task A_suggestion_accepted_on_the_page_is_applied_by_the_run_as_the_autopilot_s()
    {
        using var stop = new CancellationTokenSource();
        var (id, dir, run) = fixture.Launch("piloted", stop.Token);
        using var follow = new CancellationTokenSource();
        Task? following = null;
        try
        {
            await DashboardFixture.WaitUntilAsync(() => File.Exists(new RunFiles(dir).ActuatorsPath), run, dir);
            var session = new AutopilotSession(dir, AutopilotMode.Suggest,
            [
                new Rule { Id = "slow_down", When = Conditions.Expression, ExpressionText = "step >= 1", Expression = Kiln.Autopilot.Expressions.ExprParser.Parse("step >= 1"),
                    Action = new AutopilotAction(AutopilotAction.SetLr, 0.0025), Cooldown = 1_000_000 },
            ]);
            following = AutopilotRunner.RunAsync(session, follow.Token, interval: TimeSpan.FromMilliseconds(100));

            await using var page = await PageSession.OpenAsync(fixture, $"#/run?run={Uri.EscapeDataString(id)}");
            var panel = page.Page.GetByTestId("autopilot-panel");
            await Expect(panel.GetByTestId("autopilot-mode")).ToHaveTextAsync("suggest");
            var proposal = panel.GetByTestId("proposal");
            await Expect(proposal).ToHaveAttributeAsync("data-status", "suggested");
            await Expect(proposal).ToContainTextAsync("lr = 0.0025");
            await Expect(proposal).ToContainTextAsync("step >= 1 holds");

            await proposal.GetByTestId("accept").ClickAsync();
            await Expect(proposal).ToHaveAttributeAsync("data-status", "accepted");
            await Expect(proposal).ToContainTextAsync("accepted by dashboard");
            // The kernel applies it at the run's next safe point, and the page's controls follow the dials.
            await Expect(page.Page.Locator("[data-testid=control-lr][data-group='0']")).ToHaveAttributeAsync("placeholder", "0.0025", new() { Timeout = 15_000 });
            var ledger = File.ReadAllLines(new RunFiles(dir).LedgerPath);
            Assert.Contains(ledger, l => l.Contains("\"source\":\"autopilot\"", StringComparison.Ordinal) && l.Contains("\"decision\":\"applied\"", StringComparison.Ordinal));
            await page.AssertCleanAsync();
        }
        finally
        {
            await follow.CancelAsync();
            if (following is not null) await following;
            await stop.CancelAsync();
            await run;
        }
    }
}
