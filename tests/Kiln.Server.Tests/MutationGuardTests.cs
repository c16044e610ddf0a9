using System.Net;
using System.Text;
using Kiln.Protocol;

namespace Kiln.Server.Tests;

/// <summary>
/// Every change (every POST) is checked for where it comes from and what it carries: an <c>Origin</c> must be the
/// server's own, a change without one needs the token in a header (a cookie alone is what a forged request carries),
/// and the body must be declared JSON, which no cross-site form or simple request can declare.
/// </summary>
public sealed class MutationGuardTests
{
    private const string Pause = """{"module":"core","op":"pause"}""";

    private static Action<Kiln.Testing.TempDir> OneRun => w => FakeRun.Create(w.Sub("runs/a"));

    private static string Own(ServerHost host) => $"http://127.0.0.1:{host.Client.BaseAddress!.Port}";

    /// <summary>A client holding the cookie the printed URL sets, as the browser of the person who opened it.</summary>
    private static async Task<HttpClient> SignedIn(ServerHost host)
    {
        var client = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer() }) { BaseAddress = host.Client.BaseAddress };
        using var opened = await client.GetAsync("/?token=" + host.Token);
        Assert.Equal(HttpStatusCode.OK, opened.StatusCode);
        return client;
    }

    private static HttpRequestMessage Post(string path, string body, string? contentType, string? origin = null, string? token = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body)) };
        if (contentType is not null) request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        if (origin is not null) request.Headers.Add("Origin", origin);
        if (token is not null) request.Headers.Add("X-Kiln-Token", token);
        return request;
    }

    private static bool Queued(ServerHost host) => File.Exists(Path.Combine(host.Workspace.Path, "runs/a", RunFiles.Commands));

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("application/json")]
    public async Task A_cross_origin_post_carrying_the_cookie_is_refused(string contentType)
    {
        await using var host = await ServerHost.StartAsync(OneRun);
        using var browser = await SignedIn(host);
        using var forged = Post("/api/run/commands?run=runs/a", Pause, contentType, origin: "http://evil.example");
        using var response = await browser.SendAsync(forged);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("http://evil.example", (await ServerHost.Json(response))!["error"]!.GetValue<string>(), StringComparison.Ordinal);
        using var freeze = Post("/api/run/freeze?run=runs/a", """{"mode":"prod"}""", contentType, origin: "http://127.0.0.1:1");
        Assert.Equal(HttpStatusCode.Forbidden, (await browser.SendAsync(freeze)).StatusCode);
        Assert.False(Queued(host));
        Assert.False(File.Exists(Path.Combine(host.Workspace.Path, "runs/a", RunFiles.Freeze)));
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("text/plain;charset=UTF-8")]
    [InlineData("multipart/form-data; boundary=x")]
    [InlineData(null)]
    public async Task A_change_must_be_declared_json(string? contentType)
    {
        await using var host = await ServerHost.StartAsync(OneRun);
        using var browser = await SignedIn(host);
        using var fromPage = Post("/api/run/commands?run=runs/a", Pause, contentType, origin: Own(host));
        using var response = await browser.SendAsync(fromPage);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Contains("application/json", (await ServerHost.Json(response))!["error"]!.GetValue<string>(), StringComparison.Ordinal);
        // Scripts too: the header token does not excuse the content type.
        using var script = Post("/api/run/commands?run=runs/a", Pause, contentType, token: host.Token);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await host.Client.SendAsync(script)).StatusCode);
        Assert.False(Queued(host));

        using var json = Post("/api/run/commands?run=runs/a", Pause, "application/json; charset=utf-8", origin: Own(host));
        Assert.Equal(HttpStatusCode.Accepted, (await browser.SendAsync(json)).StatusCode);
    }

    [Fact]
    public async Task Without_an_origin_the_cookie_alone_is_not_enough()
    {
        await using var host = await ServerHost.StartAsync(OneRun);
        using var browser = await SignedIn(host);
        using var cookieOnly = Post("/api/run/commands?run=runs/a", Pause, "application/json");
        using var refused = await browser.SendAsync(cookieOnly);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("X-Kiln-Token", (await ServerHost.Json(refused))!["error"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.False(Queued(host));

        using var withHeader = Post("/api/run/commands?run=runs/a", Pause, "application/json", token: host.Token);
        Assert.Equal(HttpStatusCode.Accepted, (await host.Client.SendAsync(withHeader)).StatusCode);
    }

    [Theory]
    [InlineData("http://evil.example")]
    [InlineData("null")]
    [InlineData("https://127.0.0.1")]
    public async Task A_foreign_origin_is_refused_even_with_the_header_token(string origin)
    {
        await using var host = await ServerHost.StartAsync(OneRun);
        using var request = Post("/api/run/commands?run=runs/a", Pause, "application/json", origin: origin, token: host.Token);
        using var response = await host.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.False(Queued(host));
    }

    [Fact]
    public async Task The_own_origin_by_any_loopback_name_is_accepted()
    {
        await using var host = await ServerHost.StartAsync(OneRun);
        using var browser = await SignedIn(host);
        using var request = Post("/api/run/commands?run=runs/a", Pause, "application/json", origin: Own(host));
        Assert.Equal(HttpStatusCode.Accepted, (await browser.SendAsync(request)).StatusCode);

        // A page opened as localhost sends Host and Origin both naming localhost.
        var port = host.Client.BaseAddress!.Port;
        using var local = Post("/api/run/commands?run=runs/a", Pause, "application/json", origin: $"http://localhost:{port}", token: host.Token);
        local.Headers.Host = $"localhost:{port}";
        Assert.Equal(HttpStatusCode.Accepted, (await host.Client.SendAsync(local)).StatusCode);
    }
}
