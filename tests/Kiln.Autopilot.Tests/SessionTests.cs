using System.Text.Json.Nodes;
using Kiln.Autopilot.Actions;
using Kiln.Autopilot.Engine;
using Kiln.Autopilot.Rules;
using Kiln.Control;
using Kiln.IO;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Autopilot.Tests;

/// <summary>The autopilot on a real run directory: what it writes to the inbox and to its log, by mode, and accepting or rejecting a suggestion.</summary>
public sealed class SessionTests : IDisposable
{
    private readonly TempDir _dir = new("autopilot");

    public void Dispose() => _dir.Dispose();

    private string Run()
    {
        var dir = _dir.Sub("run");
        new RunControl(dir).Init();
        // The dials as a kernel writes them: a weight decay to multiply.
        AtomicFile.WriteJson(Path.Combine(dir, RunFiles.Actuators), new JsonObject
        {
            ["actuators"] = new JsonArray(new JsonObject { ["module"] = "opt", ["id"] = "main", ["key"] = "weight_decay", ["type"] = "float", ["min"] = 0, ["max"] = 0.05, ["value"] = 0.01 }),
        });
        return dir;
    }

    private static void Metrics(string dir, long step, double loss) =>
        JsonlFile.Append(Path.Combine(dir, RunFiles.Metrics), new MetricsRecord(step, 0, "train", 0, new Dictionary<string, double> { ["loss"] = loss }).ToJsonLine());

    private static Rule Above(string id, string confidence, AutopilotAction action) => new()
    {
        Id = id, When = Conditions.Above, Metric = "loss", Threshold = 1, Confidence = confidence, Action = action, Cooldown = 1000,
    };

    private static List<Command> Inbox(string dir) =>
        File.ReadAllLines(Path.Combine(dir, RunFiles.Commands)).Where(l => l.Length > 0).Select(l => Command.FromJson(JsonNode.Parse(l)!)).ToList();

    [Fact]
    public void Auto_sends_what_it_is_sure_of_with_source_autopilot_and_proposes_the_rest()
    {
        var dir = Run();
        var session = new AutopilotSession(dir, AutopilotMode.Auto,
            [Above("halve", Confidences.High, new(AutopilotAction.LrMult, 0.5)), Above("wd", Confidences.Low, new(AutopilotAction.WdMult, 2))]);
        Metrics(dir, 0, 0.5);
        Assert.Empty(session.Poll());
        Metrics(dir, 1, 2.0);
        var made = session.Poll();

        Assert.Equal([ProposalStatus.Applied, ProposalStatus.Suggested], made.Select(p => p.Status));
        var sent = Inbox(dir).Single();
        Assert.Equal(("opt", "set_params", Sources.Autopilot), (sent.Module, sent.Op, sent.Source));
        Assert.Equal(0.5, (double)sent.Params!["scheduler_drop"]!);
        Assert.Equal(sent.Cid, made[0].Cid);
        Assert.Equal("loss = 2 (above 1)", made[0].Rationale);
        // The log holds both, as they stand.
        Assert.Equal(made.Select(p => (p.Id, p.Status)), session.Log.Read().Select(p => (p.Id, p.Status)));
    }

    [Fact]
    public void A_suggestion_accepted_is_sent_against_the_dials_of_now_and_cannot_be_decided_twice()
    {
        var dir = Run();
        var session = new AutopilotSession(dir, AutopilotMode.Suggest, [Above("wd", Confidences.High, new(AutopilotAction.WdMult, 2))]);
        Metrics(dir, 0, 3);
        var suggestion = session.Poll().Single();
        Assert.Equal(ProposalStatus.Suggested, suggestion.Status);
        Assert.False(File.Exists(Path.Combine(dir, RunFiles.Commands)) && Inbox(dir).Count > 0);

        var accepted = AutopilotSession.Accept(dir, suggestion.Id, "dashboard");
        var sent = Inbox(dir).Single();
        Assert.Equal(0.02, (double)sent.Params!["weight_decay"]!, 12);
        Assert.Equal((ProposalStatus.Accepted, sent.Cid, "accepted by dashboard"), (accepted.Status, accepted.Cid, accepted.Note));
        Assert.Equal(ProposalStatus.Accepted, session.Log.Read().Single().Status);

        var again = Assert.Throws<ProtocolException>(() => AutopilotSession.Reject(dir, suggestion.Id, "cli"));
        Assert.Contains("is accepted, not waiting for a decision", again.Message);
        Assert.Contains("no proposal nope", Assert.Throws<ProtocolException>(() => AutopilotSession.Accept(dir, "nope", "cli")).Message);
    }

    [Fact]
    public void A_rejected_suggestion_sends_nothing_and_a_multiplied_value_stays_within_the_dial_s_bounds()
    {
        var dir = Run();
        var session = new AutopilotSession(dir, AutopilotMode.Suggest,
            [Above("a", Confidences.High, new(AutopilotAction.WdMult, 10)), Above("b", Confidences.High, new(AutopilotAction.WdMult, 3)) with { Threshold = 0 }]);
        Metrics(dir, 0, 3);
        var made = session.Poll();
        AutopilotSession.Reject(dir, made[1].Id, "cli");
        Assert.False(File.Exists(Path.Combine(dir, RunFiles.Commands)) && Inbox(dir).Count > 0);
        Assert.Equal("rejected by cli", session.Log.Read()[1].Note);

        AutopilotSession.Accept(dir, made[0].Id, "cli");
        // 0.01 × 10 is past the dial's maximum of 0.05: the maximum is sent.
        Assert.Equal(0.05, (double)Inbox(dir).Single().Params!["weight_decay"]!);
    }

    [Fact]
    public void Nothing_to_send_is_recorded_as_skipped_with_the_reason()
    {
        var dir = Run();
        AtomicFile.WriteJson(Path.Combine(dir, RunFiles.Actuators), new JsonObject
        {
            ["actuators"] = new JsonArray(new JsonObject { ["module"] = "opt", ["id"] = "main", ["key"] = "weight_decay", ["type"] = "float", ["value"] = 0 }),
        });
        var session = new AutopilotSession(dir, AutopilotMode.Auto, [Above("wd", Confidences.High, new(AutopilotAction.WdMult, 2))]);
        Metrics(dir, 0, 3);
        var p = session.Poll().Single();
        Assert.Equal((ProposalStatus.Skipped, "weight_decay is 0, so multiplying it changes nothing"), (p.Status, p.Note));
    }

    [Fact]
    public void Off_watches_and_does_nothing_and_an_unknown_mode_is_refused()
    {
        var dir = Run();
        var session = new AutopilotSession(dir, AutopilotMode.Off, [Above("halve", Confidences.High, new(AutopilotAction.LrMult, 0.5))]);
        Metrics(dir, 0, 3);
        Assert.Empty(session.Poll());
        Assert.False(File.Exists(session.Log.Path));
        Assert.Contains("unknown mode \"yolo\"", Assert.Throws<ProtocolException>(() => new AutopilotSession(dir, "yolo", [])).Message);
    }

    [Fact]
    public void A_torn_or_foreign_line_in_the_log_is_passed_over()
    {
        var dir = Run();
        var session = new AutopilotSession(dir, AutopilotMode.Suggest, [Above("a", Confidences.High, new(AutopilotAction.SetLr, 1e-4))]);
        Metrics(dir, 0, 3);
        var made = session.Poll().Single();
        File.AppendAllText(session.Log.Path, "not json\n{\"id\":\"x\"}\n{\"id\":\"" + made.Id + "\",\"status\":\"rej");
        Assert.Equal((made.Id, ProposalStatus.Suggested), session.Log.Read().Select(p => (p.Id, p.Status)).Single());
    }

    [Fact]
    public async Task The_runner_follows_the_run_until_stopped_and_judges_the_last_metrics()
    {
        var dir = Run();
        var session = new AutopilotSession(dir, AutopilotMode.Auto, [Above("halve", Confidences.High, new(AutopilotAction.LrMult, 0.5))]);
        using var stop = new CancellationTokenSource();
        var lines = new List<string>();
        var runner = AutopilotRunner.RunAsync(session, stop.Token, line => { lock (lines) lines.Add(line); }, TimeSpan.FromMilliseconds(20));
        Assert.Equal(AutopilotMode.Auto, (string)JsonNode.Parse(File.ReadAllText(Path.Combine(dir, RunFiles.AutopilotState)))!["mode"]!);
        Metrics(dir, 0, 0.5);
        Metrics(dir, 1, 5);
        stop.Cancel();
        await runner;
        Assert.Single(Inbox(dir));
        lock (lines) Assert.Contains(lines, l => l.StartsWith("autopilot: halve at step 1: lr × 0.5 — applied", StringComparison.Ordinal));
    }
}
