using System.Net;
using Kiln.Protocol;

namespace Kiln.Server.Tests;

/// <summary>Who may read and change what: the Host check, the token, path confinement and request limits.</summary>
public sealed class SecurityTests
{
    private static Action<Kiln.Testing.TempDir> OneRun => w => FakeRun.Create(w.Sub("runs/a"));

    [Fact]
    public async Task On_loopback_reading_needs_no_token_but_every_change_does()
    {
        await using var host = await ServerHost.StartAsync(OneRun);
        Assert.Equal(HttpStatusCode.OK, (await host.Get("/api/runs")).Status);
        const string body = """{"module":"opt","op":"set_params","params":{"lr":0.1}}""";

        var (status, error) = await host.Post("/api/run/commands?run=runs/a", body, withToken: false);
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Contains("token", error!["error"]!.GetValue<string>(), StringComparison.Ordinal);

        using (var wrong = new HttpRequestMessage(HttpMethod.Post, "/api/run/commands?run=runs/a") { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") })
        {
            wrong.Headers.Add("X-Kiln-Token", host.Token + "x");
            using var response = await host.Client.SendAsync(wrong);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }
        Assert.Equal(HttpStatusCode.Unauthorized, (await host.Post("/api/run/freeze?run=runs/a", """{"mode":"prod"}""", withToken: false)).Status);
        Assert.False(File.Exists(Path.Combine(host.Workspace.Path, "runs/a", RunFiles.Commands)), "a refused command must not reach the inbox");
        Assert.False(File.Exists(Path.Combine(host.Workspace.Path, "runs/a", RunFiles.Freeze)));

        Assert.Equal(HttpStatusCode.Accepted, (await host.Post("/api/run/commands?run=runs/a", body)).Status);
    }

    [Theory]
    [InlineData("evil.example")]
    [InlineData("192.168.1.20")]
    [InlineData("localhost.evil.example")]
    public async Task On_loopback_a_foreign_Host_header_is_refused_even_with_a_GET(string foreign)
    {
        await using var host = await ServerHost.StartAsync(OneRun);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/runs");
        request.Headers.Host = foreign;
        using var response = await host.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("not this machine", (await ServerHost.Json(response))!["error"]!.GetValue<string>(), StringComparison.Ordinal);

        using var page = new HttpRequestMessage(HttpMethod.Get, "/");
        page.Headers.Host = foreign;
        using var pageResponse = await host.Client.SendAsync(page);
        Assert.Equal(HttpStatusCode.Forbidden, pageResponse.StatusCode);
        Assert.DoesNotContain(host.Token, await pageResponse.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Off_loopback_every_request_needs_the_token_which_the_query_turns_into_a_cookie()
    {
        await using var host = await ServerHost.StartAsync(OneRun, host: "0.0.0.0", token: "s3cret-token");
        Assert.Equal("s3cret-token", host.Token);
        Assert.Equal(HttpStatusCode.Unauthorized, (await host.Get("/api/runs")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await host.Get("/")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await host.Get("/api/runs?token=wrong")).Status);
        Assert.Equal(HttpStatusCode.OK, (await host.Get("/api/runs?token=s3cret-token")).Status);

        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = host.Client.BaseAddress };
        using var first = await browser.GetAsync("/?token=s3cret-token");
        Assert.Equal(HttpStatusCode.Found, first.StatusCode);
        var cookie = Assert.Single(first.Headers.GetValues("Set-Cookie"));
        var name = Security.AccessPolicy.CookieName(host.Client.BaseAddress!.Port);
        Assert.StartsWith(name + "=s3cret-token", cookie, StringComparison.Ordinal);
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);

        using var withCookie = new HttpRequestMessage(HttpMethod.Get, "/api/runs");
        withCookie.Headers.Add("Cookie", name + "=s3cret-token");
        using var cookieResponse = await host.Client.SendAsync(withCookie);
        Assert.Equal(HttpStatusCode.OK, cookieResponse.StatusCode);

        using var withHeader = new HttpRequestMessage(HttpMethod.Get, "/api/runs");
        withHeader.Headers.Add("X-Kiln-Token", "s3cret-token");
        using var headerResponse = await host.Client.SendAsync(withHeader);
        Assert.Equal(HttpStatusCode.OK, headerResponse.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await host.Post("/api/run/commands?run=runs/a", """{"module":"core","op":"pause"}""")).Status);
    }

    [Fact]
    public async Task A_generated_token_is_long_and_random()
    {
        await using var a = await ServerHost.StartAsync();
        await using var b = await ServerHost.StartAsync();
        Assert.Equal(32, a.Token.Length);
        Assert.NotEqual(a.Token, b.Token);
    }

    [Theory]
    [InlineData("../outside")]
    [InlineData("runs/../../outside")]
    [InlineData("/etc")]
    [InlineData("runs")]
    [InlineData("runs/a/..")]
    [InlineData("runs\\a")]
    [InlineData("")]
    public async Task Only_run_directories_under_the_root_can_be_named(string id)
    {
        using var outside = new Kiln.Testing.TempDir("outside");
        FakeRun.Create(outside.Path);
        await using var host = await ServerHost.StartAsync(OneRun);
        var escaped = Uri.EscapeDataString(id);
        foreach (var path in new[] { "/api/run", "/api/run/metrics", "/api/run/ledger", "/api/run/metric-names", "/api/run/epochs", "/api/run/events" })
        {
            var (status, body) = await host.Get($"{path}?run={escaped}");
            Assert.True(status == HttpStatusCode.NotFound, $"{path}?run={id}: {(int)status}");
            Assert.NotNull(body!["error"]);
        }
        var (postStatus, _) = await host.Post($"/api/run/commands?run={escaped}", """{"module":"core","op":"pause"}""");
        Assert.Equal(HttpStatusCode.NotFound, postStatus);
        var compare = (await host.Get($"/api/compare?runs={escaped}&metric=loss")).Status;
        Assert.Equal(id.Length == 0 ? HttpStatusCode.BadRequest : HttpStatusCode.NotFound, compare);
    }

    [Fact]
    public async Task A_symlink_out_of_the_root_is_not_followed()
    {
        using var outside = new Kiln.Testing.TempDir("outside");
        FakeRun.Create(Path.Combine(outside.Path, "secret-run"));
        await using var host = await ServerHost.StartAsync(w =>
        {
            FakeRun.Create(w.Sub("runs/a"));
            Directory.CreateSymbolicLink(Path.Combine(w.Path, "link"), outside.Path);
        });
        var ids = (await host.GetOk("/api/runs"))["runs"]!.AsArray().Select(r => r!["id"]!.GetValue<string>()).ToList();
        Assert.Equal(["runs/a"], ids);
        Assert.Equal(HttpStatusCode.NotFound, (await host.Get("/api/run?run=link/secret-run")).Status);
    }

    [Theory]
    [InlineData("/..%2f..%2fetc%2fpasswd")]
    [InlineData("/%2e%2e/%2e%2e/etc/passwd")]
    [InlineData("/runs/a/kiln.run.json")]
    [InlineData("/app.cs")]
    public async Task Static_files_come_only_from_the_embedded_UI(string path)
    {
        await using var host = await ServerHost.StartAsync(OneRun);
        using var response = await host.Client.GetAsync(path);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Bodies_over_the_limit_are_refused_and_nothing_is_queued()
    {
        await using var host = await ServerHost.StartAsync(OneRun);
        var big = "{\"module\":\"opt\",\"op\":\"set_params\",\"params\":{\"note\":\"" + new string('x', 70 * 1024) + "\"}}";
        var (status, _) = await host.Post("/api/run/commands?run=runs/a", big);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.False(File.Exists(Path.Combine(host.Workspace.Path, "runs/a", RunFiles.Commands)));
    }

    [Fact]
    public async Task Answers_carry_protective_headers()
    {
        await using var host = await ServerHost.StartAsync(OneRun);
        using var response = await host.Client.GetAsync("/api/runs");
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal("no-referrer", response.Headers.GetValues("Referrer-Policy").Single());
    }
}
