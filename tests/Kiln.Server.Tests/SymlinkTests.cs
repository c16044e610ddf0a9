using System.Net;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Server.Tests;

/// <summary>
/// Symbolic links in a served workspace, made for real: a link among a run's files that leads out of the workspace is
/// never read through (nor written through), a link that stays inside is followed, and the run index walks into no
/// linked directory.
/// </summary>
public sealed class SymlinkTests : IDisposable
{
    private const string Secret = "root:x:0:0:the-secret-first-line";

    /// <summary>Files outside the workspace, each shaped as the run file that will point at it, each holding the secret.</summary>
    private readonly TempDir _outside = new("outside");

    public void Dispose() => _outside.Dispose();

    private string OutsideFile(string name, string content)
    {
        var path = Path.Combine(_outside.Path, name);
        File.WriteAllText(path, content);
        return path;
    }

    /// <summary>Per run file: what the outside file holds (readable as that file) and the requests that would read it.</summary>
    public static TheoryData<string, string, string[]> LinkedFiles => new()
    {
        { RunFiles.BatchLog, $"epoch,mode,batch,{Secret.Replace(':', '_')}\n1,train,0,1\n", ["/api/run/epochs?run=runs/a", "/api/run?run=runs/a"] },
        { RunFiles.EpochLog, $"epoch,mode,n_batches,{Secret.Replace(':', '_')}\n1,train,1,1\n", ["/api/run/epochs?run=runs/a"] },
        { RunFiles.Metrics, $"{{\"step\":0,\"metrics\":{{\"{Secret}\":1}}}}\n", ["/api/run/metrics?run=runs/a", "/api/run/metric-names?run=runs/a", "/api/compare?runs=runs/a&metric=" + Uri.EscapeDataString(Secret), "/api/runs"] },
        { RunFiles.Ledger, $"{{\"seq\":1,\"cid\":\"c\",\"step\":0,\"module\":\"opt\",\"op\":\"set_params\",\"source\":\"cli\",\"decision\":\"applied\",\"notes\":\"{Secret}\"}}\n", ["/api/run/ledger?run=runs/a"] },
        { RunFiles.Actuators, $"{{\"step\":0,\"actuators\":[],\"note\":\"{Secret}\"}}", ["/api/run?run=runs/a"] },
        { RunFiles.Freeze, $"{{\"mode\":\"prod\",\"recipe_path\":\"{Secret}\"}}", ["/api/run?run=runs/a"] },
        { RunFiles.Run, $"{{\"id\":\"a\",\"kind\":\"launch\",\"status\":\"completed\",\"config\":\"{Secret}\"}}", ["/api/runs", "/api/run?run=runs/a"] },
        { "kiln.trial.json", $"{{\"swept\":{{\"lr\":\"{Secret}\"}}}}", ["/api/runs", "/api/run?run=runs/a"] },
    };

    [Theory]
    [MemberData(nameof(LinkedFiles))]
    public async Task A_run_file_linked_out_of_the_workspace_is_never_read(string name, string content, string[] requests)
    {
        var target = OutsideFile(name, content);
        await using var host = await ServerHost.StartAsync(w =>
        {
            var dir = FakeRun.Create(w.Sub("runs/a"));
            var file = Path.Combine(dir, name);
            File.Delete(file);
            File.CreateSymbolicLink(file, target);
            // The epoch log is the batch log's cache: it is read only when newer than a batch log beside it.
            if (name == RunFiles.EpochLog)
            {
                File.WriteAllText(Path.Combine(dir, RunFiles.BatchLog), "epoch,mode,batch,loss\n1,train,0,1\n");
                File.SetLastWriteTimeUtc(target, DateTime.UtcNow.AddHours(1));
            }
        });
        foreach (var request in requests)
        {
            using var response = await host.Client.GetAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            Assert.DoesNotContain("the-secret-first-line", text, StringComparison.Ordinal);
            Assert.DoesNotContain("the_secret_first_line", text, StringComparison.Ordinal);
            if (request.StartsWith("/api/runs", StringComparison.Ordinal))
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Contains($"{name} is a symbolic link leading outside", text, StringComparison.Ordinal);
            }
            else
            {
                Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{request}: {(int)response.StatusCode} {text}");
                Assert.Contains($"{name} is a symbolic link leading outside", text, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task The_event_stream_of_a_run_with_a_file_linked_out_is_refused()
    {
        var target = OutsideFile("metrics", $"{{\"step\":0,\"metrics\":{{\"{Secret}\":1}}}}\n");
        await using var host = await ServerHost.StartAsync(w =>
        {
            var dir = FakeRun.Create(w.Sub("runs/a"));
            File.CreateSymbolicLink(Path.Combine(dir, RunFiles.Metrics), target);
        });
        using var response = await host.Client.GetAsync("/api/run/events?run=runs/a&from=m:0;l:0", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task A_file_linked_out_after_the_stream_started_ends_the_stream_unread()
    {
        var target = OutsideFile("metrics", $"{{\"step\":1,\"metrics\":{{\"{Secret}\":1}}}}\n");
        await using var host = await ServerHost.StartAsync(w =>
        {
            var dir = FakeRun.Create(w.Sub("runs/a"), status: RunInfo.Running, pid: Environment.ProcessId);
            FakeRun.Metrics(dir, 0, 0, _ => 1.0);
        });
        var metrics = Path.Combine(host.Workspace.Path, "runs/a", RunFiles.Metrics);
        await using var events = await SseStream.Open(host.Client, "/api/run/events?run=runs/a&from=m:0;l:0");
        Assert.Equal("metrics", (await events.Next()).Name);
        File.Delete(metrics);
        File.CreateSymbolicLink(metrics, target);
        await Assert.ThrowsAsync<EndOfStreamException>(async () =>
        {
            while (true)
            {
                var e = await events.Next(TimeSpan.FromSeconds(20));
                Assert.DoesNotContain("the-secret-first-line", e.Data.ToJsonString(), StringComparison.Ordinal);
            }
        });
    }

    [Theory]
    [InlineData(RunFiles.Commands)]
    [InlineData(RunFiles.Commands + ".lock")]
    public async Task Nothing_is_written_through_a_link_out_of_the_workspace(string name)
    {
        var target = OutsideFile("inbox", "untouched\n");
        await using var host = await ServerHost.StartAsync(w =>
        {
            var dir = FakeRun.Create(w.Sub("runs/a"));
            File.CreateSymbolicLink(Path.Combine(dir, name), target);
        });
        var (status, body) = await host.Post("/api/run/commands?run=runs/a", """{"module":"core","op":"pause"}""");
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("symbolic link leading outside", body!["error"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("untouched\n", File.ReadAllText(target));
        var (freeze, _) = await host.Post("/api/run/freeze?run=runs/a", """{"mode":"prod"}""");
        Assert.Equal(HttpStatusCode.Forbidden, freeze);
    }

    [Fact]
    public async Task A_link_that_stays_inside_the_workspace_is_followed()
    {
        await using var host = await ServerHost.StartAsync(w =>
        {
            var shared = w.Sub("shared");
            FakeRun.Metrics(shared, 0, 4, s => s);
            var dir = FakeRun.Create(w.Sub("runs/a"));
            File.CreateSymbolicLink(Path.Combine(dir, RunFiles.Metrics), Path.Combine("..", "..", "shared", RunFiles.Metrics));
        });
        var answer = await host.GetOk("/api/run/metrics?run=runs/a");
        Assert.Equal(5, answer["series"]!["loss"]!["points"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_link_inside_the_workspace_to_a_link_leading_out_is_refused()
    {
        var target = OutsideFile("metrics", $"{{\"step\":0,\"metrics\":{{\"{Secret}\":1}}}}\n");
        await using var host = await ServerHost.StartAsync(w =>
        {
            var hop = w.File("hop.jsonl");
            File.CreateSymbolicLink(hop, target);
            var dir = FakeRun.Create(w.Sub("runs/a"));
            File.CreateSymbolicLink(Path.Combine(dir, RunFiles.Metrics), hop);
        });
        var (status, body) = await host.Get("/api/run/metrics?run=runs/a");
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.DoesNotContain("the-secret", body!.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_run_index_walks_into_no_directory_linked_out_of_the_workspace()
    {
        FakeRun.Create(Path.Combine(_outside.Path, "secret-run"));
        FakeRun.Create(Path.Combine(_outside.Path, "deeper", "run"));
        await using var host = await ServerHost.StartAsync(w =>
        {
            FakeRun.Create(w.Sub("runs/a"));
            Directory.CreateSymbolicLink(Path.Combine(w.Path, "runs", "linked"), _outside.Path);
            Directory.CreateSymbolicLink(Path.Combine(w.Path, "out"), _outside.Path);
        });
        var ids = (await host.GetOk("/api/runs"))["runs"]!.AsArray().Select(r => r!["id"]!.GetValue<string>()).ToList();
        Assert.Equal(["runs/a"], ids);
        foreach (var id in new[] { "runs/linked/secret-run", "out/secret-run", "out/deeper/run" })
            Assert.Equal(HttpStatusCode.NotFound, (await host.Get($"/api/run?run={Uri.EscapeDataString(id)}")).Status);
    }
}
