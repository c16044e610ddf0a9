using System.Net;

namespace Kiln.Server.Tests;

/// <summary>The embedded page and its files.</summary>
public sealed class UiTests
{
    [Fact]
    public async Task The_page_says_whether_it_may_change_things_and_uPlot_is_served_from_the_build()
    {
        await using var host = await ServerHost.StartAsync();
        using var page = await host.Client.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("<meta name=\"kiln-access\" content=\"read\">", html, StringComparison.Ordinal);
        Assert.DoesNotContain(host.Token, html, StringComparison.Ordinal);
        Assert.DoesNotContain("{{", html, StringComparison.Ordinal);
        Assert.DoesNotContain("cdn", html, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(html, await host.Client.GetStringAsync("/index.html"));

        using var uplot = await host.Client.GetAsync("/vendor/uPlot.iife.min.js");
        Assert.Equal(HttpStatusCode.OK, uplot.StatusCode);
        Assert.Equal("text/javascript", uplot.Content.Headers.ContentType!.MediaType);
        Assert.Contains("uPlot", await uplot.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var css = await host.Client.GetAsync("/vendor/uPlot.min.css");
        Assert.Equal("text/css", css.Content.Headers.ContentType!.MediaType);
    }

    [Fact]
    public async Task Unknown_files_and_api_paths_are_404()
    {
        await using var host = await ServerHost.StartAsync();
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync("/nothing.js")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await host.Client.GetAsync("/api/nothing")).StatusCode);
    }
}
