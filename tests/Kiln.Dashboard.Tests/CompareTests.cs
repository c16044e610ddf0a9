using System.Text.Json.Nodes;
using Kiln.Control;
using Kiln.Protocol;
using static Microsoft.Playwright.Assertions;

namespace Kiln.Dashboard.Tests;

/// <summary>The comparison of a sweep: curves named by what differs, a sortable table with a baseline, each run's changes, live runs followed.</summary>
[Collection(DashboardCollection.Name)]
public sealed class CompareTests(DashboardFixture fixture)
{
    private string CompareRoute(params string[] ids) => "#/compare?runs=" + Uri.EscapeDataString(string.Join(',', ids));

    [Fact]
    public async Task Trials_are_named_by_their_swept_values_and_the_table_sorts_and_diffs_against_a_baseline()
    {
        await using var session = await PageSession.OpenAsync(fixture, CompareRoute(fixture.TrialIds));
        var page = session.Page;
        var legend = page.GetByTestId("compare-legend-item");
        await Expect(legend).ToHaveCountAsync(2);
        await Expect(legend.Nth(0)).ToContainTextAsync("lr=0.001");
        await Expect(legend.Nth(1)).ToContainTextAsync("lr=0.01");

        var rows = page.GetByTestId("compare-row");
        await Expect(rows).ToHaveCountAsync(2);
        await page.GetByTestId("compare-metric").SelectOptionAsync("train_loss");
        var finals = await FinalValuesAsync(page);
        Assert.All(finals.Values, v => Assert.True(double.IsFinite(v)));

        // Sorted by the final value, one way and the other.
        await page.Locator("[data-testid=compare-table] th[data-col=final]").ClickAsync();
        var ascending = finals.OrderBy(kv => kv.Value).Select(kv => kv.Key).ToArray();
        await Expect(rows.First).ToHaveAttributeAsync("data-run", ascending[0]);
        await page.Locator("[data-testid=compare-table] th[data-col=final]").ClickAsync();
        await Expect(rows.First).ToHaveAttributeAsync("data-run", ascending[1]);

        // A baseline: its own difference is 0, the other's is the difference of the finals; the chart draws differences.
        await page.GetByTestId("compare-baseline").SelectOptionAsync(fixture.TrialIds[0]);
        Assert.Contains("baseline=", page.Url, StringComparison.Ordinal);
        var delta = page.Locator($"[data-testid=compare-row][data-run='{fixture.TrialIds[1]}'] td[data-col=delta_final]");
        await Expect(delta).ToBeVisibleAsync();
        Assert.Equal(finals[fixture.TrialIds[1]] - finals[fixture.TrialIds[0]], double.Parse(await delta.GetAttributeAsync("data-value") ?? "", System.Globalization.CultureInfo.InvariantCulture), 9);
        await Expect(page.Locator($"[data-testid=compare-row][data-run='{fixture.TrialIds[0]}'] td[data-col=delta_final]")).ToHaveAttributeAsync("data-value", "0");
        await page.GetByTestId("compare-diff").CheckAsync();
        var chart = page.GetByTestId("compare-chart");
        await Expect(chart).ToHaveAttributeAsync("data-diff", "true");
        await Expect(chart).ToHaveAttributeAsync("data-x-label", "step");
        await Expect(chart).ToHaveAttributeAsync("data-y-label", "train_loss − baseline");

        // The per-epoch chart spans its two epochs (0 and 1), no more.
        await Expect(page.GetByTestId("epoch-chart")).ToHaveAttributeAsync("data-x-range", "0,1");
        await session.AssertCleanAsync();
    }

    [Fact]
    public async Task Each_runs_changes_are_marked_in_its_color_and_a_running_run_is_followed()
    {
        using var stop = new CancellationTokenSource();
        var (id, dir, run) = fixture.Launch("compared", stop.Token);
        try
        {
            var files = new RunFiles(dir);
            await DashboardFixture.WaitUntilAsync(() => File.Exists(files.ActuatorsPath), run, dir);
            new RunControl(dir).Send(new Command { Module = "opt", Op = "set_params", Params = new JsonObject { ["lr"] = 0.0005 } });
            await DashboardFixture.WaitUntilAsync(() => File.Exists(files.LedgerPath) && File.ReadAllText(files.LedgerPath).Contains("\"lr\":0.0005", StringComparison.Ordinal), run, "the change applied");

            await using var session = await PageSession.OpenAsync(fixture, CompareRoute(id, fixture.TrialIds[0]) + "&metric=train_loss");
            var page = session.Page;
            var chart = page.GetByTestId("compare-chart");
            await Expect(page.GetByTestId("compare-live")).ToContainTextAsync("1 running");
            var mark = chart.Locator($"[data-testid=ledger-marker][data-run='{id}']");
            await Expect(mark).ToHaveCountAsync(1);
            Assert.Contains("lr", await mark.GetAttributeAsync("title") ?? "", StringComparison.Ordinal);
            Assert.Contains("--marker", await mark.GetAttributeAsync("style") ?? "", StringComparison.Ordinal);
            await page.GetByTestId("compare-markers").UncheckAsync();
            await Expect(chart).ToHaveAttributeAsync("data-markers", "0");

            // The running run's curve grows without a reload.
            var before = await LastStepAsync(page, id);
            await Expect(page.Locator($"[data-testid=compare-row][data-run='{id}'] td[data-col=step]")).Not.ToHaveAttributeAsync("data-value", before.ToString(System.Globalization.CultureInfo.InvariantCulture), new() { Timeout = 20_000 });
            await session.AssertCleanAsync();
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }

    [Fact]
    public async Task A_trial_that_wrote_only_its_batch_log_charts_its_epochs()
    {
        var dir = Path.Combine(fixture.Root, "runs", "own-command");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, RunFiles.BatchLog), "epoch,mode,batch,loss,acc\n1,train,0,2.0,0.2\n1,val,0,1.5,0.5\n2,train,0,0.8,0.6\n2,val,0,0.9,0.75\n3,train,0,0.5,0.8\n3,val,0,0.7,0.8\n");
        Kiln.Metrics.Epochs.EpochMetrics.Derive(dir);
        File.WriteAllText(Path.Combine(dir, RunFiles.Run), new RunInfo { Id = "own-command", Kind = "trial", Config = "command", Status = RunInfo.Completed, Start = 1_700_000_000, End = 1_700_000_010 }.ToJson().ToJsonString());

        await using var session = await PageSession.OpenAsync(fixture, "#/run?run=runs%2Fown-command");
        var page = session.Page;
        var chart = page.Locator("[data-testid=metric-chart][data-metric=val_loss]");
        await Expect(chart).ToHaveAttributeAsync("data-points", "3");
        await Expect(chart).ToHaveAttributeAsync("data-x-label", "step");
        await Expect(chart).ToHaveAttributeAsync("data-y-label", "val_loss");
        await session.AssertCleanAsync();
    }

    private static async Task<Dictionary<string, double>> FinalValuesAsync(Microsoft.Playwright.IPage page)
    {
        var result = new Dictionary<string, double>();
        var rows = page.GetByTestId("compare-row");
        await Expect(rows.First.Locator("td[data-col=final]")).Not.ToHaveAttributeAsync("data-value", "");
        for (var i = 0; i < await rows.CountAsync(); i++)
        {
            var row = rows.Nth(i);
            result[await row.GetAttributeAsync("data-run") ?? ""] = double.Parse(await row.Locator("td[data-col=final]").GetAttributeAsync("data-value") ?? "", System.Globalization.CultureInfo.InvariantCulture);
        }
        return result;
    }

    private static async Task<long> LastStepAsync(Microsoft.Playwright.IPage page, string id)
    {
        var cell = page.Locator($"[data-testid=compare-row][data-run='{id}'] td[data-col=step]");
        await Expect(cell).Not.ToHaveAttributeAsync("data-value", "");
        return long.Parse(await cell.GetAttributeAsync("data-value") ?? "", System.Globalization.CultureInfo.InvariantCulture);
    }
}
