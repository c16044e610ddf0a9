using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Kernel;
using Kiln.Protocol;
using Kiln.Server.Hosting;
using Kiln.Testing;

namespace Kiln.Server.Tests;

/// <summary>A real server on a free loopback port over a temporary workspace, and an HTTP client for it.</summary>
internal sealed class ServerHost : IAsyncDisposable
{
    private ServerHost(TempDir workspace, KilnServer server)
    {
        Workspace = workspace;
        Server = server;
        // Bound to every address, the server is reached here through loopback.
        var url = new UriBuilder(server.Url) { Host = "127.0.0.1" }.Uri;
        Client = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(30) };
    }

    public TempDir Workspace { get; }
    public KilnServer Server { get; }
    public HttpClient Client { get; }
    public string Token => Server.Token;

    public static async Task<ServerHost> StartAsync(Action<TempDir>? populate = null, string host = "127.0.0.1", string? token = null,
        Func<ServerOptions, ServerOptions>? configure = null)
    {
        var workspace = new TempDir("server");
        populate?.Invoke(workspace);
        var options = new ServerOptions { Root = workspace.Path, Host = host, Port = 0, Token = token };
        var server = await KilnServer.StartAsync(configure?.Invoke(options) ?? options);
        return new ServerHost(workspace, server);
    }

    public async Task<(HttpStatusCode Status, JsonNode? Body)> Get(string path)
    {
        using var response = await Client.GetAsync(path);
        return (response.StatusCode, await Json(response));
    }

    public async Task<JsonNode> GetOk(string path)
    {
        var (status, body) = await Get(path);
        Assert.True(status == HttpStatusCode.OK, $"GET {path}: {(int)status} {body?.ToJsonString()}");
        return body!;
    }

    public async Task<(HttpStatusCode Status, JsonNode? Body)> Post(string path, string json, bool withToken = true)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (withToken) request.Headers.Add("X-Kiln-Token", Token);
        using var response = await Client.SendAsync(request);
        return (response.StatusCode, await Json(response));
    }

    public static async Task<JsonNode?> Json(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        if (response.Content.Headers.ContentType is not MediaTypeHeaderValue { MediaType: "application/json" }) return text.Length == 0 ? null : JsonValue.Create(text);
        return JsonNode.Parse(text);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
        Workspace.Dispose();
    }
}

/// <summary>Writes run directories as the trainer and kernel would, without training.</summary>
internal static class FakeRun
{
    public static string Create(string dir, string kind = "launch", string? config = "simple", string status = RunInfo.Completed,
        double start = 1_700_000_000, JsonObject? metrics = null, JsonObject? parameters = null, int? pid = null)
    {
        Directory.CreateDirectory(dir);
        var info = new RunInfo
        {
            Id = Path.GetFileName(dir), Kind = kind, Config = config, Status = status, Start = start,
            End = status == RunInfo.Running ? null : start + 60, Metrics = metrics, Params = parameters, Pid = pid,
        };
        AtomicFile.WriteAllText(Path.Combine(dir, RunFiles.Run), info.ToJson().ToJsonString());
        return dir;
    }

    public static void Metrics(string dir, long fromStep, long toStep, Func<long, double> loss, string name = "loss")
    {
        var text = new StringBuilder();
        for (var s = fromStep; s <= toStep; s++)
            text.Append("{\"step\":").Append(s).Append(",\"metrics\":{\"").Append(name).Append("\":").Append(loss(s).ToString("R", System.Globalization.CultureInfo.InvariantCulture)).Append("}}\n");
        File.AppendAllText(Path.Combine(dir, RunFiles.Metrics), text.ToString());
    }

    public static LedgerEntry Decide(string dir, long step, string module = "opt", string op = "set_params", string decision = "applied", string? json = null)
    {
        var ledger = Ledger.Open(Path.Combine(dir, RunFiles.Ledger), TimeProvider.System);
        return ledger.Append(new LedgerEntry
        {
            Step = step, Module = module, Op = op, Source = "test", Decision = decision, Cid = Command.NewCid(),
            Params = (JsonObject?)JsonNode.Parse(json ?? "{\"lr\":0.01}"),
        });
    }
}
