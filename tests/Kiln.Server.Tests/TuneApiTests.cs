using System.Net;
using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Server.Tests;

/// <summary><c>/api/run/tune</c>: the tune module's mode, counts and segments from the ledger; turning it on is a command.</summary>
public sealed class TuneApiTests
{
    private static void Tuned(Kiln.Testing.TempDir w)
    {
        var dir = FakeRun.Create(w.Sub("runs/tuned"), status: RunInfo.Running, pid: Environment.ProcessId);
        var ledger = Path.Combine(dir, RunFiles.Ledger);
        long seq = 0;
        void Line(long step, string op, string payload) => JsonlFile.Append(ledger, new LedgerEntry
        {
            Seq = ++seq, Step = step, Event = "val_epoch_end", Module = "tune", Op = op, Source = Sources.Tune, Decision = Decision.Applied,
            Payload = (JsonObject)JsonNode.Parse(payload)!,
        }.ToJsonLine());
        Line(9, "mutate", """{"segment":1,"key":"lr","module":"opt","factor":2,"from":{"0":0.001},"to":{"lr":0.002},"pre":1.5,"metric":"val_loss"}""");
        Line(19, "verdict", """{"segment":1,"decision":"accepted","pre":1.5,"post":1.2,"improvement":0.3,"baseline":0,"score":0.3,"reason":"better"}""");
        Line(19, "mutate", """{"segment":2,"key":"lr","module":"opt","factor":4,"from":{"0":0.002},"to":{"lr":0.008},"pre":1.2,"metric":"val_loss"}""");
        Line(29, "verdict", """{"segment":2,"decision":"rolled_back","pre":1.2,"post":1.4,"improvement":-0.2,"baseline":0,"score":-0.5,"reason":"worse"}""");
        File.WriteAllText(Path.Combine(dir, RunFiles.TuneState), """{"settings":{"mode":"active"},"segment":null}""");
    }

    [Fact]
    public async Task The_panel_reads_the_segments_from_the_ledger_and_tune_is_turned_on_by_a_command()
    {
        await using var host = await ServerHost.StartAsync(Tuned);
        var answer = await host.GetOk("/api/run/tune?run=runs/tuned");
        Assert.Equal(("active", 2, 1, 1, 0.5), ((string)answer["mode"]!, (int)answer["mutations"]!, (int)answer["accepted"]!, (int)answer["rolled_back"]!, (double)answer["accept_rate"]!));
        var segments = answer["segments"]!.AsArray();
        Assert.Equal(("accepted", 2.0, 1.2), ((string)segments[0]!["decision"]!, (double)segments[0]!["factor"]!, (double)segments[0]!["post"]!));
        Assert.Equal("rolled_back", (string)segments[1]!["decision"]!);

        var (status, _) = await host.Post("/api/run/commands?run=runs/tuned", """{"module":"tune","op":"enable","params":{"mode":"observe"}}""");
        Assert.Equal(HttpStatusCode.Accepted, status);
        var sent = Command.FromJson(JsonNode.Parse(File.ReadAllLines(Path.Combine(host.Workspace.Path, "runs/tuned", RunFiles.Commands)).Single())!);
        Assert.Equal(("tune", "enable", "observe"), (sent.Module, sent.Op, (string)sent.Params!["mode"]!));
    }

    [Fact]
    public async Task A_run_tune_never_touched_answers_unused()
    {
        await using var host = await ServerHost.StartAsync(w => FakeRun.Create(w.Sub("runs/plain")));
        var answer = await host.GetOk("/api/run/tune?run=runs/plain");
        Assert.Equal(("off", false, 0), ((string)answer["mode"]!, (bool)answer["used"]!, (int)answer["mutations"]!));
    }
}
