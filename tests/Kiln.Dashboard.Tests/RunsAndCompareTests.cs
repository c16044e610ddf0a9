using static Microsoft.Playwright.Assertions;

namespace Kiln.Dashboard.Tests;

/// <summary>The runs list (server-side filter) and the comparison of two trials, with their per-epoch curves.</summary>
[Collection(DashboardCollection.Name)]
public sealed class RunsAndCompareTests(DashboardFixture fixture)
{
    [Fact]
    public async Task The_runs_page_lists_every_run_and_filters_them()
    {
        await using var session = await PageSession.OpenAsync(fixture, "#/runs");
        var page = session.Page;
        var rows = page.GetByTestId("runs-row");
        var all = fixture.RunIds();
        await Expect(rows).ToHaveCountAsync(all.Count);
        var live = page.Locator($"[data-testid=runs-row][data-run='{fixture.LiveId}']");
        await Expect(live.Locator("[data-status]")).ToHaveTextAsync("running");
        foreach (var id in fixture.TrialIds)
            await Expect(page.Locator($"[data-testid=runs-row][data-run='{id}'] [data-status]")).ToHaveTextAsync("completed");

        await page.GetByTestId("runs-filter").FillAsync("trial_001");
        await Expect(rows).ToHaveCountAsync(1);
        await Expect(rows.First).ToHaveAttributeAsync("data-run", fixture.TrialIds[1]);
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("filter=trial_001"));

        await page.GetByTestId("runs-filter").FillAsync("no-such-run");
        await Expect(rows).ToHaveCountAsync(0);
        await Expect(page.GetByTestId("runs-table")).ToContainTextAsync("No run matches");

        await page.GetByTestId("runs-filter").FillAsync("");
        await Expect(rows).ToHaveCountAsync(all.Count);
        await live.GetByRole(Microsoft.Playwright.AriaRole.Link).ClickAsync();
        await Expect(page.GetByTestId("run-header")).ToContainTextAsync(fixture.LiveId);
        await session.AssertCleanAsync();
    }

    [Fact]
    public async Task Selected_runs_open_in_compare_and_two_trials_overlay_with_their_epoch_curves()
    {
        await using var session = await PageSession.OpenAsync(fixture, "#/runs");
        var page = session.Page;
        foreach (var id in fixture.TrialIds)
            await page.Locator($"[data-testid=runs-row][data-run='{id}'] [data-testid=run-select]").CheckAsync();
        await page.GetByTestId("compare-button").ClickAsync();
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("#/compare\\?runs="));

        var chart = page.GetByTestId("compare-chart");
        await Expect(chart).ToHaveAttributeAsync("data-series", "2");
        await Expect(chart.Locator("canvas").First).ToBeVisibleAsync();
        await Expect(page.GetByTestId("compare-legend-item")).ToHaveCountAsync(2);
        var metric = await page.GetByTestId("compare-metric").InputValueAsync();
        await Expect(chart).ToHaveAttributeAsync("data-metric", metric);

        // Another metric from the dropdown redraws both runs.
        await page.GetByTestId("compare-metric").SelectOptionAsync("train_loss");
        await Expect(chart).ToHaveAttributeAsync("data-metric", "train_loss");
        await Expect(chart).ToHaveAttributeAsync("data-series", "2");
        Assert.Contains("metric=train_loss", page.Url, StringComparison.Ordinal);

        var epochs = page.GetByTestId("epoch-section");
        await Expect(epochs).ToBeVisibleAsync();
        var epochChart = page.GetByTestId("epoch-chart");
        await Expect(epochChart).ToHaveAttributeAsync("data-series", "2");
        await Expect(epochChart).ToHaveAttributeAsync("data-points", "2"); // two epochs
        await page.GetByTestId("epoch-mode").SelectOptionAsync("train");
        await page.GetByTestId("epoch-column").SelectOptionAsync("acc");
        await Expect(epochChart).ToHaveAttributeAsync("data-column", "acc");
        await Expect(epochChart).ToHaveAttributeAsync("data-series", "2");

        // A third run joins from the page itself, and leaves again.
        await page.GetByTestId("compare-add").FillAsync(fixture.LiveId);
        await page.GetByTestId("compare-add").PressAsync("Enter");
        await Expect(page.GetByTestId("compare-legend-item")).ToHaveCountAsync(3);
        await Expect(chart).ToHaveAttributeAsync("data-series", "3");
        await Expect(chart).ToHaveAttributeAsync("data-metric", "train_loss");
        await page.Locator($"[data-testid=compare-legend-item][data-run='{fixture.LiveId}'] button").ClickAsync();
        await Expect(page.GetByTestId("compare-legend-item")).ToHaveCountAsync(2);
        await session.AssertCleanAsync();
    }
}
