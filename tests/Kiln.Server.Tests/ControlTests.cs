using System.Net;
using System.Text.Json.Nodes;
using Kiln.Runs;
using Kiln.IO;
using Kiln.Protocol;
using Kiln.Train.Runs;
using Kiln.Testing;

namespace Kiln.Server.Tests;

/// <summary>Commands and freeze from the dashboard: written as the CLI writes them, refused whole when malformed.</summary>
public sealed class ControlTests
{
    private static List<Command> Inbox(ServerHost host, string id = "runs/a")
    {
        var path = Path.Combine(host.Workspace.Path, id, RunFiles.Commands);
        var list = new List<Command>();
        if (File.Exists(path)) JsonlTail.ReadAll(path, line => list.Add(Command.FromJson(JsonNode.Parse(line.Bytes.Span)!, modules: null)));
        return list;
    }

    [Fact]
    public async Task A_command_is_queued_with_a_new_cid_and_the_dashboard_as_its_source()
    {
        await using var host = await ServerHost.StartAsync(w => FakeRun.Create(w.Sub("runs/a")));
        var (status, body) = await host.Post("/api/run/commands?run=runs/a", """{"module":"opt","op":"set_params","params":{"lr":0.003,"group":1}}""");
        Assert.Equal(HttpStatusCode.Accepted, status);
        var queued = Assert.Single(Inbox(host));
        Assert.Equal(body!["cid"]!.GetValue<string>(), queued.Cid);
        Assert.Equal(Sources.Dashboard, queued.Source);
        Assert.Equal(("opt", "set_params"), (queued.Module, queued.Op));
        Assert.Equal(0.003, queued.Params!["lr"]!.GetValue<double>());
        Assert.NotNull(queued.Ts);
        Assert.Equal(queued.Cid, body["command"]!["cid"]!.GetValue<string>());

        await host.Post("/api/run/commands?run=runs/a", """{"module":"cb","op":"disable","id":"heartbeat"}""");
        await host.Post("/api/run/commands?run=runs/a", """{"module":"cb","op":"load","id":"guard","target":{"kind":"file","path":"cbs/Guard.cs"},"init":{"factor":3},"enabled":true}""");
        var all = Inbox(host);
        Assert.Equal(3, all.Count);
        Assert.Equal(3, all.Select(c => c.Cid).Distinct().Count());
        Assert.Equal("cbs/Guard.cs", all[2].Target!.Path);
        Assert.Equal(3, all[2].Init!["factor"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_module_the_run_plugged_in_is_steerable_from_the_dashboard()
    {
        await using var host = await ServerHost.StartAsync(w =>
        {
            var dir = FakeRun.Create(w.Sub("runs/a"));
            File.WriteAllText(Path.Combine(dir, RunFiles.Actuators),
                """{"step":0,"actuators":[{"module":"counter","id":"main","key":"count","type":"float","value":0,"enabled":true}]}""");
        });
        var (status, _) = await host.Post("/api/run/commands?run=runs/a", """{"module":"counter","op":"add","params":{"by":2}}""");
        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.Equal("counter", Assert.Single(Inbox(host)).Module);
        var (refused, answer) = await host.Post("/api/run/commands?run=runs/a", """{"module":"gpu","op":"x"}""");
        Assert.Equal(HttpStatusCode.BadRequest, refused);
        Assert.Contains("counter", answer!["error"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("{\"module\":", "not valid JSON")]
    [InlineData("[1,2]", "object")]
    [InlineData("{\"op\":\"pause\"}", "module: missing")]
    [InlineData("{\"module\":\"gpu\",\"op\":\"x\"}", "unknown module")]
    [InlineData("{\"module\":\"core\"}", "op: missing")]
    [InlineData("{\"module\":\"core\",\"op\":\"pause\",\"colour\":1}", "colour")]
    [InlineData("{\"module\":\"core\",\"op\":\"pause\",\"cid\":\"mine\"}", "set by the server")]
    [InlineData("{\"module\":\"core\",\"op\":\"pause\",\"source\":\"cli\"}", "set by the server")]
    [InlineData("{\"module\":\"opt\",\"op\":\"set_params\",\"params\":{\"learning_rate\":1}}", "not an optimizer key")]
    [InlineData("{\"module\":\"loss\",\"op\":\"set_params\",\"params\":{\"cls\":1}}", "not a loss key")]
    [InlineData("{\"module\":\"opt\",\"op\":\"set_params\",\"params\":{}}", "at least one")]
    [InlineData("{\"module\":\"cb\",\"op\":\"load\",\"id\":\"g\",\"target\":{\"kind\":\"zip\",\"path\":\"x\"}}", "unknown kind")]
    public async Task A_malformed_command_is_refused_with_the_reason_and_nothing_is_queued(string body, string reason)
    {
        await using var host = await ServerHost.StartAsync(w => FakeRun.Create(w.Sub("runs/a")));
        var (status, answer) = await host.Post("/api/run/commands?run=runs/a", body);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(reason, answer!["error"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Empty(Inbox(host));
    }

    [Theory]
    [InlineData("{\"module\":\"core\",\"op\":\"pause\",\"id\":\"\u00ff\"}", "/api/run/commands", "not valid UTF-8")]
    [InlineData("{\"module\":\"core\",\"op\":\"pause\",\"id\":\"\u00c3\"}", "/api/run/commands", "not valid UTF-8")]
    [InlineData("{\"module\":\"core\",\"op\":\"\\ud800\"}", "/api/run/commands", "lone surrogate")]
    [InlineData("{\"module\":\"core\",\"\\udc00\":1,\"op\":\"pause\"}", "/api/run/commands", "lone surrogate")]
    [InlineData("{\"module\":\"opt\",\"op\":\"set_params\",\"params\":{\"lr\":0.1,\"note\":\"\\ud83d\"}}", "/api/run/commands", "lone surrogate")]
    [InlineData("{\"mode\":\"\u00ff\"}", "/api/run/freeze", "not valid UTF-8")]
    [InlineData("{\"mode\":\"replay\",\"recipe_path\":\"\\udfff\"}", "/api/run/freeze", "lone surrogate")]
    public async Task A_body_that_is_not_valid_text_is_refused_with_the_reason(string latin1, string path, string reason)
    {
        await using var host = await ServerHost.StartAsync(w => FakeRun.Create(w.Sub("runs/a")));
        // Each char of the string is one byte of the body: \u00ff is the byte 0xFF, never valid in UTF-8.
        using var request = new HttpRequestMessage(HttpMethod.Post, path + "?run=runs/a") { Content = new ByteArrayContent(System.Text.Encoding.Latin1.GetBytes(latin1)) };
        request.Content.Headers.ContentType = new("application/json");
        request.Headers.Add("X-Kiln-Token", host.Token);
        using var response = await host.Client.SendAsync(request);
        var answer = await ServerHost.Json(response);
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode} {answer?.ToJsonString()}");
        Assert.Contains(reason, answer!["error"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Empty(Inbox(host));
        Assert.False(File.Exists(Path.Combine(host.Workspace.Path, "runs/a", RunFiles.Freeze)));
    }

    [Fact]
    public async Task Freeze_writes_the_state_the_CLI_writes_and_refuses_an_incomplete_one()
    {
        await using var host = await ServerHost.StartAsync(w => FakeRun.Create(w.Sub("runs/a")));
        var dir = Path.Combine(host.Workspace.Path, "runs/a");
        var (status, state) = await host.Post("/api/run/freeze?run=runs/a", """{"mode":"prod"}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("prod", state!["mode"]!.GetValue<string>());
        var onDisk = FreezeState.FromJson(JsonNode.Parse(File.ReadAllText(Path.Combine(dir, RunFiles.Freeze))));
        Assert.Equal("prod", onDisk.Mode);
        Assert.Equal("prod", (await host.GetOk("/api/run?run=runs/a"))["freeze"]!["mode"]!.GetValue<string>());

        foreach (var (body, reason) in new[]
        {
            ("""{"mode":"sometimes"}""", "unknown mode"),
            ("""{"mode":"replay"}""", "needs a recipe"),
            ("""{"mode":"replay_adjusted","recipe_path":"r.jsonl"}""", "adjust"),
            ("""{"mode":"prod","policy":"lenient"}""", "unknown policy"),
            ("""{}""", "mode: missing"),
        })
        {
            var (bad, error) = await host.Post("/api/run/freeze?run=runs/a", body);
            Assert.Equal(HttpStatusCode.BadRequest, bad);
            Assert.Contains(reason, error!["error"]!.GetValue<string>(), StringComparison.Ordinal);
        }
        Assert.Equal("prod", FreezeState.FromJson(JsonNode.Parse(File.ReadAllText(Path.Combine(dir, RunFiles.Freeze)))).Mode);
    }

    [Fact]
    public async Task Concurrent_posts_all_land_as_whole_lines()
    {
        await using var host = await ServerHost.StartAsync(w => FakeRun.Create(w.Sub("runs/a")));
        var posts = Enumerable.Range(0, 40).Select(i =>
            host.Post("/api/run/commands?run=runs/a", $$$"""{"module":"opt","op":"set_params","params":{"lr":{{{(i + 1) / 1000.0}}}}}"""));
        var results = await Task.WhenAll(posts);
        Assert.All(results, r => Assert.Equal(HttpStatusCode.Accepted, r.Status));
        var inbox = Inbox(host);
        Assert.Equal(40, inbox.Count);
        Assert.Equal(40, inbox.Select(c => c.Params!["lr"]!.GetValue<double>()).Distinct().Count());
    }

    [Fact]
    public async Task A_live_run_applies_a_dashboard_change_and_the_stream_reports_the_decision()
    {
        using var workspace = new TempDir("live");
        var runDir = Path.Combine(workspace.Path, "runs", "live");
        using var stop = new CancellationTokenSource();
        var training = Task.Run(() => RunLauncher.Run(new LaunchOptions
        {
            Function = BuiltInRuns.Get("simple"), RunDir = runDir, MaxSteps = 100_000, StepDelay = TimeSpan.FromMilliseconds(5),
            DataDir = Path.Combine(workspace.Path, "no-data"),
        }, cancel: stop.Token));
        try
        {
            var actuators = Path.Combine(runDir, RunFiles.Actuators);
            await Wait.UntilAsync(() => File.Exists(actuators), "the run to publish its dials", seconds: 30);
            Assert.True(File.Exists(actuators), "the run should have published its dials");
            await using var server = await Hosting.KilnServer.StartAsync(new Hosting.ServerOptions { Root = workspace.Path, Port = 0 });
            using var client = new HttpClient { BaseAddress = new Uri(server.Url) };
            var ledgerOffset = JsonNode.Parse(await client.GetStringAsync("/api/run/ledger?run=runs/live"))!["offset"]!.GetValue<long>();
            await using var events = await SseStream.Open(client, $"/api/run/events?run=runs/live&from=m:0;l:{ledgerOffset}");

            using var post = new HttpRequestMessage(HttpMethod.Post, "/api/run/commands?run=runs/live")
            {
                Content = new StringContent("""{"module":"opt","op":"set_params","params":{"lr":0.0123}}""", System.Text.Encoding.UTF8, "application/json"),
            };
            post.Headers.Add("X-Kiln-Token", server.Token);
            using var response = await client.SendAsync(post);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            var cid = (await ServerHost.Json(response))!["cid"]!.GetValue<string>();

            JsonNode? decision = null;
            while (decision is null)
            {
                var e = await events.NextNamed("ledger");
                decision = e.Data.AsArray().FirstOrDefault(l => l!["cid"]?.GetValue<string>() == cid);
            }
            Assert.Equal("applied", decision["decision"]!.GetValue<string>());
            Assert.Equal(Sources.Dashboard, decision["source"]!.GetValue<string>());
            // The kernel publishes its dials after deciding: the page's next look shows the new rate.
            var shown = await Wait.UntilAsync(
                async () => JsonNode.Parse(await client.GetStringAsync("/api/run?run=runs/live"))!["actuators"]!.ToJsonString(),
                s => s.Contains("0.0123", StringComparison.Ordinal), "the new rate among the dials", seconds: 10);
            Assert.Contains("0.0123", shown, StringComparison.Ordinal);
            var entry = new RunDir(runDir).Decisions().Single(d => d.Cid == cid);
            Assert.Equal(Sources.Dashboard, entry.Source);
        }
        finally
        {
            await stop.CancelAsync();
            await training;
        }
    }
}
