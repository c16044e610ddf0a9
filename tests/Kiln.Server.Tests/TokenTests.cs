using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Kiln.Protocol;

namespace Kiln.Server.Tests;

/// <summary>
/// How the token reaches only the person who started the server: the printed URL carries it, opening that URL trades
/// it for an HttpOnly, SameSite=Strict cookie and drops it from the address, and the page itself never holds it.
/// </summary>
public sealed class TokenTests
{
    private static Action<Kiln.Testing.TempDir> OneRun => w => FakeRun.Create(w.Sub("runs/a"));

    /// <summary>A browser-like client: keeps cookies, follows no redirect unless told.</summary>
    private static (HttpClient Client, CookieContainer Jar) Browser(ServerHost host, bool follow)
    {
        var jar = new CookieContainer();
        var handler = new HttpClientHandler { CookieContainer = jar, AllowAutoRedirect = follow };
        return (new HttpClient(handler) { BaseAddress = host.Client.BaseAddress }, jar);
    }

    private static string Port(ServerHost host) => host.Client.BaseAddress!.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task The_page_is_never_given_the_token()
    {
        await using var host = await ServerHost.StartAsync(OneRun);
        foreach (var path in new[] { "/", "/index.html", "/app.js", "/api.js" })
        {
            var text = await host.Client.GetStringAsync(path);
            Assert.DoesNotContain(host.Token, text, StringComparison.Ordinal);
        }
        // The page opened through the printed URL does not hold it either: the cookie carries it, out of the page's reach.
        var (browser, _) = Browser(host, follow: true);
        using (browser)
        {
            var page = await browser.GetStringAsync("/?token=" + host.Token);
            Assert.DoesNotContain(host.Token, page, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task The_printed_urls_carry_the_token()
    {
        await using var host = await ServerHost.StartAsync(OneRun);
        Assert.Equal($"{host.Server.Url}?token={host.Token}#/run?run=runs%2Fa", host.Server.RunUrl("runs/a"));
    }

    [Fact]
    public async Task Opening_the_printed_url_sets_a_strict_cookie_and_drops_the_token_from_the_address()
    {
        await using var host = await ServerHost.StartAsync(OneRun);
        var (browser, jar) = Browser(host, follow: false);
        using (browser)
        {
            using var first = await browser.GetAsync($"/?token={host.Token}&keep=1");
            Assert.Equal(HttpStatusCode.Found, first.StatusCode);
            Assert.Equal("/?keep=1", first.Headers.Location!.OriginalString);
            var cookie = Assert.Single(first.Headers.GetValues("Set-Cookie"));
            Assert.StartsWith($"kiln_token_{Port(host)}={host.Token}", cookie, StringComparison.Ordinal);
            Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("path=/", cookie, StringComparison.OrdinalIgnoreCase);

            // The page served with the cookie says that changes are allowed; without it, that the page only reads.
            var page = await browser.GetStringAsync("/?keep=1");
            Assert.Contains("<meta name=\"kiln-access\" content=\"write\">", page, StringComparison.Ordinal);
            Assert.Contains("<meta name=\"kiln-access\" content=\"read\">", await host.Client.GetStringAsync("/"), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_wrong_token_in_the_url_is_refused_with_the_reason()
    {
        await using var host = await ServerHost.StartAsync(OneRun);
        var (status, body) = await host.Get("/?token=not-the-token");
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Contains("not this dashboard's", body!["error"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stale_cookie_on_loopback_only_reads()
    {
        await using var host = await ServerHost.StartAsync(OneRun);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Add("Cookie", $"kiln_token_{Port(host)}=from-a-server-that-restarted");
        using var response = await host.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("content=\"read\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_page_opened_through_the_printed_url_can_make_changes()
    {
        await using var host = await ServerHost.StartAsync(OneRun);
        var (browser, _) = Browser(host, follow: true);
        using (browser)
        {
            await browser.GetStringAsync("/?token=" + host.Token);
            using var post = new HttpRequestMessage(HttpMethod.Post, "/api/run/commands?run=runs/a")
            {
                Content = new StringContent("""{"module":"core","op":"pause"}""", Encoding.UTF8, "application/json"),
            };
            post.Headers.Add("Origin", $"http://127.0.0.1:{Port(host)}");
            using var response = await browser.SendAsync(post);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        }
    }

    [Fact]
    public async Task Scripts_send_the_token_as_a_header_or_a_bearer()
    {
        await using var host = await ServerHost.StartAsync(OneRun);
        Assert.Equal(HttpStatusCode.Accepted, (await host.Post("/api/run/commands?run=runs/a", """{"module":"core","op":"pause"}""")).Status);
        using var bearer = new HttpRequestMessage(HttpMethod.Post, "/api/run/commands?run=runs/a")
        {
            Content = new StringContent("""{"module":"core","op":"pause"}""", Encoding.UTF8, "application/json"),
        };
        bearer.Headers.Authorization = new AuthenticationHeaderValue("Bearer", host.Token);
        using var response = await host.Client.SendAsync(bearer);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);

        using var wrong = new HttpRequestMessage(HttpMethod.Post, "/api/run/commands?run=runs/a")
        {
            Content = new StringContent("""{"module":"core","op":"pause"}""", Encoding.UTF8, "application/json"),
        };
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", host.Token + "x");
        using var refused = await host.Client.SendAsync(wrong);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    [Fact]
    public async Task Off_loopback_the_printed_url_opens_every_page_through_the_cookie()
    {
        await using var host = await ServerHost.StartAsync(OneRun, host: "0.0.0.0");
        Assert.Equal(HttpStatusCode.Unauthorized, (await host.Get("/")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await host.Get("/api/runs")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await host.Get("/api/run/events?run=runs/a")).Status);
        var (browser, _) = Browser(host, follow: true);
        using (browser)
        {
            using var page = await browser.GetAsync("/?token=" + host.Token);
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Equal("/", page.RequestMessage!.RequestUri!.PathAndQuery);
            Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/api/runs")).StatusCode);
            using var events = await browser.GetAsync("/api/run/events?run=runs/a", HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, events.StatusCode);
        }
    }

    /// <summary>
    /// The attack of issue 11, short of switching users: another local user fetches the page on loopback, finds no
    /// token in it, and cannot change anything; even with the token, a callback from outside the workspace is refused.
    /// </summary>
    [Fact]
    public async Task Another_local_user_gets_no_token_and_no_code_run()
    {
        using var theirs = new Kiln.Testing.TempDir("nobody");
        var evil = Path.Combine(theirs.Path, "Evil.cs");
        File.WriteAllText(evil, "public sealed class Evil { }");
        await using var host = await ServerHost.StartAsync(OneRun);
        var page = await host.Client.GetStringAsync("/");
        Assert.DoesNotContain(host.Token, page, StringComparison.Ordinal);
        var load = $$$"""{"module":"cb","op":"load","id":"evil","target":{"kind":"file","path":"{{{evil}}}"}}""";
        Assert.Equal(HttpStatusCode.Unauthorized, (await host.Post("/api/run/commands?run=runs/a", load, withToken: false)).Status);
        var (status, body) = await host.Post("/api/run/commands?run=runs/a", load);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("outside the served directory", body!["error"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(host.Workspace.Path, "runs/a", RunFiles.Commands)));
    }
}
