using System.Net;
using System.Text.Json.Nodes;
using Kiln.Autopilot.Actions;
using Kiln.Autopilot.Engine;
using Kiln.Autopilot.Rules;
using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Server.Tests;

/// <summary><c>/api/run/autopilot</c>: the proposals, the AI's calls and their cost; accepting and rejecting with the token only.</summary>
public sealed class AutopilotApiTests
{
    private static void Piloted(Kiln.Testing.TempDir w)
    {
        var dir = FakeRun.Create(w.Sub("runs/piloted"), status: RunInfo.Running, pid: Environment.ProcessId);
        var session = new AutopilotSession(dir, AutopilotMode.Suggest,
            [new Rule { Id = "high", When = Conditions.Above, Metric = "loss", Threshold = 1, Action = new AutopilotAction(AutopilotAction.SetLr, 0.002) }]);
        JsonlFile.Append(Path.Combine(dir, RunFiles.Metrics), new MetricsRecord(3, 0, "train", 0, new Dictionary<string, double> { ["loss"] = 4 }).ToJsonLine());
        session.Poll();
        AutopilotRunner.WriteState(session, TimeProvider.System);
        JsonlFile.Append(Path.Combine(dir, RunFiles.AutopilotAi), new JsonObject { ["step"] = 3, ["status"] = "ok", ["reasoning"] = "hold steady", ["cost_usd"] = 0.0003, ["spent_usd"] = 0.0003, ["prompt"] = "long" });
    }

    [Fact]
    public async Task The_panel_reads_the_proposals_and_the_AI_s_spending_and_a_suggestion_is_accepted_with_the_token()
    {
        await using var host = await ServerHost.StartAsync(Piloted);
        var answer = await host.GetOk("/api/run/autopilot?run=runs/piloted");
        Assert.Equal("suggest", (string)answer["state"]!["mode"]!);
        var proposal = answer["proposals"]![0]!;
        Assert.Equal(("suggested", "lr = 0.002", "loss = 4 (above 1)"), ((string)proposal["status"]!, (string)proposal["summary"]!, (string)proposal["rationale"]!));
        Assert.Equal((0.0003, 1), ((double)answer["ai"]!["spent_usd"]!, (int)answer["ai"]!["calls"]!));
        Assert.Null(answer["ai"]!["last"]![0]!["prompt"]);

        var id = (string)proposal["id"]!;
        var (refused, _) = await host.Post("/api/run/autopilot/accept?run=runs/piloted", $$"""{"id":"{{id}}"}""", withToken: false);
        Assert.True(refused is HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized, refused.ToString());
        var (status, body) = await host.Post("/api/run/autopilot/accept?run=runs/piloted", $$"""{"id":"{{id}}"}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(("accepted", "accepted by dashboard"), ((string)body!["status"]!, (string)body["note"]!));
        var sent = Command.FromJson(JsonNode.Parse(File.ReadAllLines(Path.Combine(host.Workspace.Path, "runs/piloted", RunFiles.Commands)).Single())!);
        Assert.Equal((Sources.Autopilot, 0.002), (sent.Source, (double)sent.Params!["lr"]!));

        var (again, error) = await host.Post("/api/run/autopilot/reject?run=runs/piloted", $$"""{"id":"{{id}}"}""");
        Assert.Equal(HttpStatusCode.BadRequest, again);
        Assert.Contains("is accepted, not waiting for a decision", (string)error!["error"]!);
    }

    [Fact]
    public async Task A_run_without_an_autopilot_answers_empty()
    {
        await using var host = await ServerHost.StartAsync(w => FakeRun.Create(w.Sub("runs/plain")));
        var answer = await host.GetOk("/api/run/autopilot?run=runs/plain");
        Assert.Null(answer["state"]);
        Assert.Empty(answer["proposals"]!.AsArray());
        Assert.Equal(0, (int)answer["ai"]!["calls"]!);
    }
}
