using System.Net;
using Kiln.Server.Hosting;
using Kiln.Testing;

namespace Kiln.Server.Tests;

/// <summary>
/// <see cref="KilnServer.StartFolderAsync"/> (<c>kiln reports</c>) over real HTTP: a folder's files as they are, its
/// index for a folder, and nothing from outside it — not through <c>..</c>, an absolute path, nor a symbolic link.
/// </summary>
public sealed class FolderServingTests : IDisposable
{
    private const string Secret = "the-secret-outside-the-reports";
    private readonly TempDir _reports = new("reports");
    private readonly TempDir _outside = new("outside");

    public FolderServingTests()
    {
        File.WriteAllText(_reports.File("index.html"), "<html>the index</html>");
        File.WriteAllText(_reports.File("style.css"), "body { }");
        Directory.CreateDirectory(_reports.File("demo_1"));
        File.WriteAllText(_reports.File("demo_1/index.html"), "<html>run one</html>");
        File.WriteAllText(_reports.File("demo_1/run_info.json"), "{\"reference\":\"demo_1\"}");
        File.WriteAllText(_outside.File("secret.txt"), Secret);
        File.WriteAllText(_outside.File("index.html"), Secret);
    }

    public void Dispose()
    {
        _reports.Dispose();
        _outside.Dispose();
    }

    private async Task<(KilnServer Server, HttpClient Client)> Start(string host = "127.0.0.1", bool redirects = true)
    {
        var server = await KilnServer.StartFolderAsync(new ServerOptions { Root = _reports.Path, Host = host, Port = 0 });
        var url = new UriBuilder(server.Url) { Host = "127.0.0.1" }.Uri;
        return (server, new HttpClient(new HttpClientHandler { AllowAutoRedirect = redirects }) { BaseAddress = url });
    }

    [Fact]
    public async Task The_index_a_run_report_and_its_files_are_served_with_their_types()
    {
        var (server, client) = await Start();
        await using var _ = server;
        using var __ = client;
        Assert.Equal("<html>the index</html>", await client.GetStringAsync("/"));
        Assert.Equal("<html>the index</html>", await client.GetStringAsync("/index.html"));
        Assert.Equal("<html>run one</html>", await client.GetStringAsync("/demo_1/"));
        using var json = await client.GetAsync("/demo_1/run_info.json");
        Assert.Equal("application/json", json.Content.Headers.ContentType?.MediaType);
        using var css = await client.GetAsync("/style.css");
        Assert.Equal("text/css", css.Content.Headers.ContentType?.MediaType);
        using var missing = await client.GetAsync("/demo_2/index.html");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Null(server.Runs);
    }

    [Fact]
    public async Task A_folder_without_its_slash_is_redirected_so_relative_links_resolve()
    {
        var (server, client) = await Start(redirects: false);
        await using var _ = server;
        using var __ = client;
        using var answer = await client.GetAsync("/demo_1");
        Assert.Equal(HttpStatusCode.Redirect, answer.StatusCode);
        Assert.Equal("/demo_1/", answer.Headers.Location?.OriginalString);
    }

    [Fact]
    public async Task Nothing_outside_the_folder_is_read_through_dots_absolute_paths_or_links()
    {
        File.CreateSymbolicLink(_reports.File("leak.txt"), _outside.File("secret.txt"));
        Directory.CreateSymbolicLink(_reports.File("demo_2"), _outside.Path);
        // A link that stays inside is followed (curifactory's reports/_latest).
        Directory.CreateSymbolicLink(_reports.File("_latest"), _reports.File("demo_1"));
        var (server, client) = await Start();
        await using var _ = server;
        using var __ = client;
        var escapes = new[]
        {
            "/leak.txt", "/demo_2/", "/demo_2/secret.txt", "/demo_2/index.html",
            "/..%2F" + Path.GetFileName(_outside.Path) + "%2Fsecret.txt", "/%2E%2E/%2E%2E" + _outside.File("secret.txt"),
            "/" + Uri.EscapeDataString(_outside.File("secret.txt")),
        };
        foreach (var path in escapes)
        {
            using var answer = await client.GetAsync(path);
            var body = await answer.Content.ReadAsStringAsync();
            Assert.DoesNotContain(Secret, body, StringComparison.Ordinal);
            Assert.True(answer.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.NotFound or HttpStatusCode.BadRequest, $"{path}: {(int)answer.StatusCode} {body}");
        }
        Assert.Equal("<html>run one</html>", await client.GetStringAsync("/_latest/"));
    }

    [Fact]
    public async Task Off_loopback_every_request_needs_the_token_and_the_printed_url_signs_in()
    {
        var (server, client) = await Start(host: "0.0.0.0", redirects: false);
        await using var _ = server;
        using var __ = client;
        using var refused = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        using var wrong = await client.GetAsync("/?token=nope");
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        using var signIn = await client.GetAsync($"/?token={server.Token}");
        Assert.Equal(HttpStatusCode.Redirect, signIn.StatusCode);
        Assert.Contains(signIn.Headers.GetValues("Set-Cookie"), c => c.Contains(server.Token, StringComparison.Ordinal) && c.Contains("httponly", StringComparison.OrdinalIgnoreCase));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/demo_1/");
        request.Headers.Add("X-Kiln-Token", server.Token);
        using var allowed = await client.SendAsync(request);
        Assert.Equal("<html>run one</html>", await allowed.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Nothing_can_be_written()
    {
        var (server, client) = await Start();
        await using var _ = server;
        using var __ = client;
        using var request = new HttpRequestMessage(HttpMethod.Put, "/index.html") { Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json") };
        request.Headers.Add("X-Kiln-Token", server.Token);
        using var answer = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, answer.StatusCode);
        Assert.Equal("<html>the index</html>", File.ReadAllText(_reports.File("index.html")));
    }
}
