using System.Text.Json.Nodes;
using Kiln.Protocol;
using static Microsoft.Playwright.Assertions;

namespace Kiln.Dashboard.Tests;

/// <summary>The run page's tune panel: turned on from the page, tune mutates the running run and the panel lists its segments.</summary>
[Collection(DashboardCollection.Name)]
public sealed class TunePanelTests(DashboardFixture fixture)
{
    [Fact]
    public async Task Tune_turned_on_from_the_page_mutates_the_run_and_its_segments_are_listed()
    {
        using var stop = new CancellationTokenSource();
        var (id, dir, run) = fixture.Launch("tuned", stop.Token,
            parameters: new JsonObject { ["hidden1"] = 32, ["hidden2"] = 16, ["eval_every"] = 5, ["batch_size"] = 32 });
        try
        {
            await DashboardFixture.WaitUntilAsync(() => File.Exists(new RunFiles(dir).ActuatorsPath), run, dir);
            await using var page = await PageSession.OpenAsync(fixture, $"#/run?run={Uri.EscapeDataString(id)}");
            var panel = page.Page.GetByTestId("tune-panel");
            await Expect(panel).ToContainTextAsync("tune has not mutated this run");
            await panel.GetByTestId("tune-toggle").ClickAsync();
            await Expect(panel.GetByTestId("tune-mode")).ToHaveTextAsync("active", new() { Timeout = 15_000 });
            await Expect(panel.GetByTestId("tune-segment").First).ToBeVisibleAsync(new() { Timeout = 30_000 });
            await Expect(panel.GetByTestId("tune-summary")).ToContainTextAsync("mutations");
            var ledger = File.ReadAllLines(new RunFiles(dir).LedgerPath);
            Assert.Contains(ledger, l => l.Contains("\"module\":\"tune\"", StringComparison.Ordinal) && l.Contains("\"op\":\"mutate\"", StringComparison.Ordinal));
            await page.AssertCleanAsync();
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }
}
