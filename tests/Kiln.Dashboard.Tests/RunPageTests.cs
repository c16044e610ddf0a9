using System.Globalization;
using System.Text.Json.Nodes;
using Kiln.Protocol;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Kiln.Dashboard.Tests;

/// <summary>The run page against a run that is training: live charts, steering from the controls, validation.</summary>
[Collection(DashboardCollection.Name)]
public sealed class RunPageTests(DashboardFixture fixture)
{
    private const string LossChart = "[data-testid=metric-chart][data-metric=train_loss]";

    private string RunRoute => $"#/run?run={Uri.EscapeDataString(fixture.LiveId)}";

    [Fact]
    public async Task The_loss_chart_grows_as_the_run_trains()
    {
        await using var session = await PageSession.OpenAsync(fixture, RunRoute);
        var page = session.Page;
        await Expect(page.GetByTestId("run-status")).ToHaveTextAsync("running");
        var chart = page.Locator(LossChart);
        await Expect(chart.Locator("canvas").First).ToBeVisibleAsync();
        await Expect(page.GetByTestId("live-state")).ToHaveAttributeAsync("data-state", "open");
        var before = await Points(chart);
        Assert.True(before > 0, "the chart drew no points from the REST answer");

        // Points arrive over the event stream; wait for a few dozen more.
        await page.WaitForFunctionAsync(
            "([selector, n]) => Number(document.querySelector(selector)?.dataset.points) >= n",
            new object[] { LossChart, before + 25 }, new() { Timeout = 30_000 });
        Assert.True(await Points(chart) >= before + 25);
        await session.AssertCleanAsync();
    }

    [Fact]
    public async Task Changing_the_learning_rate_is_ledgered_drawn_on_the_chart_and_written_by_the_dashboard()
    {
        await using var session = await PageSession.OpenAsync(fixture, RunRoute);
        var page = session.Page;
        var input = page.Locator("[data-testid=control-lr][data-group='0']");
        await Expect(input).ToBeVisibleAsync();
        await Expect(page.Locator(LossChart).Locator("canvas").First).ToBeVisibleAsync();

        await input.FillAsync("0.002");
        await page.Locator("[data-testid=apply-lr][data-group='0']").ClickAsync();

        // The control's feedback: first the command id, then the kernel's decision.
        var feedback = page.Locator("[data-testid=command-feedback][data-for='opt|main|0|lr']");
        await Expect(feedback).ToHaveAttributeAsync("data-decision", "applied");
        await Expect(feedback).ToContainTextAsync("lr=0.002");
        var cid = await feedback.GetAttributeAsync("data-cid");
        Assert.False(string.IsNullOrEmpty(cid));

        var row = page.Locator($"[data-testid=ledger-row][data-cid='{cid}']");
        await Expect(row).ToHaveAttributeAsync("data-decision", "applied");
        await Expect(row).ToHaveAttributeAsync("data-source", "dashboard");
        await Expect(row).ToContainTextAsync("lr=0.002");
        var step = long.Parse(await row.Locator("td").Nth(1).InnerTextAsync(), CultureInfo.InvariantCulture);

        var marker = page.Locator($"{LossChart} [data-testid=ledger-marker][data-step='{step}']");
        await Expect(marker).ToBeVisibleAsync();
        Assert.Contains("lr=0.002", await marker.GetAttributeAsync("title"), StringComparison.Ordinal);

        // On disk: the ledger has the dashboard's entry, applied with the value asked for.
        var entry = Ledger().Single(e => (string?)e["cid"] == cid);
        Assert.Equal(("dashboard", "opt", "set_params", "applied"), ((string?)entry["source"], (string?)entry["module"], (string?)entry["op"], (string?)entry["decision"]));
        Assert.Equal(0.002, (double)entry["payload"]!["lr"]!);
        Assert.Equal(step, (long)entry["step"]!);

        await page.ScreenshotAsync(new() { Path = ScreenshotPath("run-page.png"), FullPage = true });
        await session.AssertCleanAsync();
    }

    [Theory]
    [InlineData("-0.5", "must be at least 0")]
    [InlineData("fast", "is not a number")]
    [InlineData("", "enter a number")]
    public async Task An_invalid_learning_rate_is_refused_in_the_page_and_nothing_reaches_the_inbox(string typed, string message)
    {
        await using var session = await PageSession.OpenAsync(fixture, RunRoute);
        var page = session.Page;
        var posts = new List<string>();
        page.Request += (_, request) =>
        {
            if (request.Method == "POST") posts.Add(request.Url);
        };
        var input = page.Locator("[data-testid=control-lr][data-group='0']");
        await Expect(input).ToBeVisibleAsync();
        var inbox = InboxLines();

        await input.FillAsync(typed);
        await page.Locator("[data-testid=apply-lr][data-group='0']").ClickAsync();

        var feedback = page.Locator("[data-testid=command-feedback][data-for='opt|main|0|lr']");
        await Expect(feedback).ToBeVisibleAsync();
        await Expect(feedback).ToHaveAttributeAsync("data-decision", "invalid");
        await Expect(feedback).ToContainTextAsync(message);
        await Expect(input).ToHaveAttributeAsync("aria-invalid", "true");
        Assert.Empty(posts);
        Assert.Equal(inbox, InboxLines());
        await session.AssertCleanAsync();
    }

    private static async Task<int> Points(ILocator chart) =>
        int.Parse(await chart.GetAttributeAsync("data-points") ?? "0", CultureInfo.InvariantCulture);

    private List<JsonObject> Ledger() =>
        File.ReadAllLines(new RunFiles(fixture.LiveDir).LedgerPath).Where(l => l.Length > 0).Select(l => (JsonObject)JsonNode.Parse(l)!).ToList();

    private string[] InboxLines()
    {
        var path = new RunFiles(fixture.LiveDir).CommandsPath;
        return File.Exists(path) ? File.ReadAllLines(path) : [];
    }

    /// <summary>artifacts/screenshots/<paramref name="name"/> under the repository (the folder holding Kiln.slnx).</summary>
    private static string ScreenshotPath(string name)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Kiln.slnx"))) dir = dir.Parent;
        if (dir is null) throw new DirectoryNotFoundException($"no Kiln.slnx above {AppContext.BaseDirectory}");
        var folder = Directory.CreateDirectory(Path.Combine(dir.FullName, "artifacts", "screenshots"));
        return Path.Combine(folder.FullName, name);
    }
}
