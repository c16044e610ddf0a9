using System.Net;
using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Server.Tests;

/// <summary>One Server-Sent Event.</summary>
internal sealed record SseEvent(string? Id, string Name, JsonNode Data);

/// <summary>Reads a live event stream from the server.</summary>
internal sealed class SseStream : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;
    private readonly CancellationTokenSource _cancel = new();

    private SseStream(HttpResponseMessage response, Stream body)
    {
        _response = response;
        _reader = new StreamReader(body);
    }

    public HttpResponseMessage Response => _response;

    public static async Task<SseStream> Open(HttpClient client, string path, string? lastEventId = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (lastEventId is not null) request.Headers.Add("Last-Event-ID", lastEventId);
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        return new SseStream(response, await response.Content.ReadAsStreamAsync());
    }

    /// <summary>The next event (comments and the retry hint are skipped); fails after <paramref name="timeout"/>.</summary>
    public async Task<SseEvent> Next(TimeSpan? timeout = null)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(_cancel.Token);
        limit.CancelAfter(timeout ?? TimeSpan.FromSeconds(20));
        string? id = null, name = null, data = null;
        while (true)
        {
            var line = await _reader.ReadLineAsync(limit.Token) ?? throw new EndOfStreamException("the event stream ended");
            if (line.Length == 0)
            {
                if (name is not null && data is not null) return new SseEvent(id, name, JsonNode.Parse(data)!);
                id = name = data = null;
                continue;
            }
            if (line.StartsWith(':')) continue;
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var (field, value) = colon < 0 ? (line, "") : (line[..colon], line[(colon + 1)..].TrimStart(' '));
            switch (field)
            {
                case "id": id = value; break;
                case "event": name = value; break;
                case "data": data = data is null ? value : data + "\n" + value; break;
            }
        }
    }

    /// <summary>Events until one named <paramref name="name"/> arrives.</summary>
    public async Task<SseEvent> NextNamed(string name)
    {
        while (true)
        {
            var e = await Next();
            if (e.Name == name) return e;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _cancel.CancelAsync();
        _reader.Dispose();
        _response.Dispose();
        _cancel.Dispose();
    }
}

/// <summary>The live stream: what it sends, where it starts, and resuming with Last-Event-ID.</summary>
public sealed class EventsTests
{
    private static long[] Steps(SseEvent e) => e.Data.AsArray().Select(l => l!["step"]!.GetValue<long>()).ToArray();

    [Fact]
    public async Task A_first_connection_without_a_position_starts_at_the_ends_of_the_files()
    {
        await using var host = await ServerHost.StartAsync(w => FakeRun.Metrics(FakeRun.Create(w.Sub("runs/a")), 0, 99, s => s));
        var dir = Path.Combine(host.Workspace.Path, "runs/a");
        await using var stream = await SseStream.Open(host.Client, "/api/run/events?run=runs/a");
        Assert.Equal(HttpStatusCode.OK, stream.Response.StatusCode);
        Assert.Equal("text/event-stream", stream.Response.Content.Headers.ContentType!.MediaType);
        FakeRun.Metrics(dir, 100, 102, s => s);
        var e = await stream.NextNamed("metrics");
        Assert.Equal([100L, 101, 102], Steps(e));
        Assert.Equal($"m:{new FileInfo(Path.Combine(dir, RunFiles.Metrics)).Length};l:0", e.Id);
    }

    [Fact]
    public async Task From_the_REST_offsets_nothing_is_missed_or_doubled_and_ledger_lines_follow()
    {
        await using var host = await ServerHost.StartAsync(w => FakeRun.Metrics(FakeRun.Create(w.Sub("runs/a")), 0, 9, s => s));
        var dir = Path.Combine(host.Workspace.Path, "runs/a");
        var metrics = await host.GetOk("/api/run/metrics?run=runs/a");
        var ledger = await host.GetOk("/api/run/ledger?run=runs/a");
        // Written after the page loaded, before it connected.
        FakeRun.Metrics(dir, 10, 11, s => s);
        var decided = FakeRun.Decide(dir, step: 11);
        await using var stream = await SseStream.Open(host.Client, $"/api/run/events?run=runs/a&from=m:{metrics["offset"]};l:{ledger["offset"]}");
        var m = await stream.NextNamed("metrics");
        Assert.Equal([10L, 11], Steps(m));
        var l = await stream.NextNamed("ledger");
        Assert.Equal(decided.Cid, Assert.Single(l.Data.AsArray())!["cid"]!.GetValue<string>());
        Assert.Equal($"m:{new FileInfo(Path.Combine(dir, RunFiles.Metrics)).Length};l:{new FileInfo(Path.Combine(dir, RunFiles.Ledger)).Length}", l.Id);
    }

    [Fact]
    public async Task Reconnecting_with_Last_Event_ID_resumes_exactly_after_the_last_event_seen()
    {
        await using var host = await ServerHost.StartAsync(w => FakeRun.Create(w.Sub("runs/a")));
        var dir = Path.Combine(host.Workspace.Path, "runs/a");
        string lastId;
        await using (var stream = await SseStream.Open(host.Client, "/api/run/events?run=runs/a&from=m:0;l:0"))
        {
            FakeRun.Metrics(dir, 0, 4, s => s);
            var e = await stream.NextNamed("metrics");
            Assert.Equal([0L, 1, 2, 3, 4], Steps(e));
            lastId = e.Id!;
        }
        // While disconnected.
        FakeRun.Metrics(dir, 5, 7, s => s);
        FakeRun.Decide(dir, step: 6);
        await using var resumed = await SseStream.Open(host.Client, "/api/run/events?run=runs/a&from=m:0;l:0", lastEventId: lastId);
        var again = await resumed.NextNamed("metrics");
        Assert.Equal([5L, 6, 7], Steps(again));
        var ledger = await resumed.NextNamed("ledger");
        Assert.Equal(6, Assert.Single(ledger.Data.AsArray())!["step"]!.GetValue<long>());
    }

    [Fact]
    public async Task A_line_being_written_is_sent_once_it_is_complete()
    {
        await using var host = await ServerHost.StartAsync(w => FakeRun.Create(w.Sub("runs/a")));
        var path = Path.Combine(host.Workspace.Path, "runs/a", RunFiles.Metrics);
        File.WriteAllText(path, "{\"step\":0,\"metrics\":{\"loss\":1}}\n{\"step\":1,");
        await using var stream = await SseStream.Open(host.Client, "/api/run/events?run=runs/a");
        File.AppendAllText(path, "\"metrics\":{\"loss\":2}}\n");
        var e = await stream.NextNamed("metrics");
        Assert.Equal([1L], Steps(e));
    }

    [Fact]
    public async Task Dials_and_status_changes_are_sent_whole()
    {
        await using var host = await ServerHost.StartAsync(w => FakeRun.Create(w.Sub("runs/a"), status: RunInfo.Running, pid: Environment.ProcessId));
        var dir = Path.Combine(host.Workspace.Path, "runs/a");
        await using var stream = await SseStream.Open(host.Client, "/api/run/events?run=runs/a");
        Kiln.IO.AtomicFile.WriteAllText(Path.Combine(dir, RunFiles.Actuators), """{"opt":{"groups":[{"lr":0.5}]}}""");
        var a = await stream.NextNamed("actuators");
        Assert.Equal(0.5, a.Data["opt"]!["groups"]![0]!["lr"]!.GetValue<double>());
        FakeRun.Create(dir, status: RunInfo.Completed);
        var s = await stream.NextNamed("status");
        Assert.Equal("completed", s.Data["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_run_whose_process_died_is_reported_interrupted_once()
    {
        using var dead = System.Diagnostics.Process.Start("true")!;
        await dead.WaitForExitAsync();
        await using var host = await ServerHost.StartAsync(w => FakeRun.Create(w.Sub("runs/a"), status: RunInfo.Running, pid: dead.Id));
        await using var stream = await SseStream.Open(host.Client, "/api/run/events?run=runs/a");
        var s = await stream.NextNamed("status");
        Assert.Equal("interrupted", s.Data["status"]!.GetValue<string>());
        // Said once: the next status is the run's own change.
        FakeRun.Create(Path.Combine(host.Workspace.Path, "runs/a"), status: RunInfo.Failed);
        Assert.Equal("failed", (await stream.NextNamed("status")).Data["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task An_unknown_run_gets_a_404_not_a_stream()
    {
        await using var host = await ServerHost.StartAsync(w => FakeRun.Create(w.Sub("runs/a")));
        var (status, body) = await host.Get("/api/run/events?run=runs/zzz");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Contains("runs/zzz", body!["error"]!.GetValue<string>(), StringComparison.Ordinal);
    }
}
