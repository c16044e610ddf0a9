using Kiln.Protocol;
using static Microsoft.Playwright.Assertions;

namespace Kiln.Dashboard.Tests;

/// <summary>
/// The page in a real browser: opened through the printed URL it steers the run without ever holding the token;
/// opened as anyone else on this machine would open it, it reads, and its controls say how to get the right to change.
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed class AccessTests(DashboardFixture fixture)
{
    private string RunRoute => $"#/run?run={Uri.EscapeDataString(fixture.LiveId)}";

    [Fact]
    public async Task The_printed_url_leaves_the_token_neither_in_the_address_nor_in_the_page()
    {
        await using var session = await PageSession.OpenAsync(fixture, RunRoute);
        var page = session.Page;
        await Expect(page.Locator("[data-testid=control-lr][data-group='0']")).ToBeEnabledAsync();
        Assert.DoesNotContain("token", page.Url, StringComparison.Ordinal);
        Assert.EndsWith(RunRoute, page.Url, StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Server.Token, await page.ContentAsync(), StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Server.Token, await page.EvaluateAsync<string>("document.cookie"), StringComparison.Ordinal);
        var cookie = Assert.Single(await session.Context.CookiesAsync());
        Assert.True(cookie.HttpOnly);
        Assert.Equal(Microsoft.Playwright.SameSiteAttribute.Strict, cookie.SameSite);
        await Expect(page.GetByTestId("controls-read-only")).ToHaveCountAsync(0);
        await session.AssertCleanAsync();
    }

    [Fact]
    public async Task A_page_opened_without_the_token_reads_and_its_controls_say_how_to_change()
    {
        await using var session = await PageSession.OpenAsync(fixture, RunRoute, signedIn: false);
        var page = session.Page;
        await Expect(page.Locator("[data-testid=metric-chart][data-metric=train_loss] canvas").First).ToBeVisibleAsync();
        await Expect(page.GetByTestId("live-state")).ToHaveAttributeAsync("data-state", "open");
        var note = page.GetByTestId("controls-read-only");
        await Expect(note).ToContainTextAsync("open the URL Kiln printed when it started");
        await Expect(page.GetByTestId("read-only")).ToBeVisibleAsync();
        await Expect(page.Locator("[data-testid=control-lr][data-group='0']")).ToBeDisabledAsync();
        await Expect(page.Locator("[data-testid=apply-lr][data-group='0']")).ToBeDisabledAsync();
        Assert.Empty(await session.Context.CookiesAsync());

        // Nor can the page's own scripts change anything: the server refuses what the page would send.
        var inbox = Inbox();
        var status = await page.EvaluateAsync<int>(
            "async (run) => (await fetch('/api/run/commands?run=' + encodeURIComponent(run), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ module: 'core', op: 'pause' }) })).status",
            fixture.LiveId);
        Assert.Equal(401, status);
        Assert.Equal(inbox, Inbox());
        session.Errors.RemoveAll(e => e.Contains("401", StringComparison.Ordinal)); // the browser logs the refused request
        await session.AssertCleanAsync();
    }

    private string[] Inbox()
    {
        var path = new RunFiles(fixture.LiveDir).CommandsPath;
        return File.Exists(path) ? File.ReadAllLines(path) : [];
    }
}
