using System.Text.Json.Nodes;
using Kiln.Autopilot.Actions;
using Kiln.Autopilot.Ai;
using Kiln.Autopilot.Engine;
using Kiln.Autopilot.Rules;
using Kiln.Control;
using Kiln.IO;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Autopilot.Tests;

/// <summary>The AI autopilot against a real OpenAI-compatible HTTP endpoint on loopback: scripted, malformed, slow and costly replies.</summary>
public sealed class AiPilotTests : IDisposable
{
    private readonly TempDir _dir = new("ai-pilot");
    private readonly FakeOpenAi _server = new();

    public void Dispose()
    {
        _server.Dispose();
        _dir.Dispose();
    }

    private string Run()
    {
        var dir = _dir.Sub("run");
        new RunControl(dir).Init();
        AtomicFile.WriteJson(Path.Combine(dir, RunFiles.Actuators), new JsonObject
        {
            ["actuators"] = new JsonArray(
                new JsonObject { ["module"] = "opt", ["id"] = "main", ["key"] = "lr", ["type"] = "log_float", ["group"] = "0", ["min"] = 0, ["max"] = 10, ["value"] = 0.001 },
                new JsonObject { ["module"] = "opt", ["id"] = "main", ["key"] = "weight_decay", ["type"] = "float", ["group"] = "0", ["min"] = 0, ["max"] = 10, ["value"] = 0.0001 }),
        });
        return dir;
    }

    private static void Metrics(string dir, long from, long to)
    {
        for (var s = from; s <= to; s++)
            JsonlFile.Append(Path.Combine(dir, RunFiles.Metrics), new MetricsRecord(s, 0, "train", 0,
                new Dictionary<string, double> { ["train_loss"] = 2.0 / (1 + s), ["val_loss"] = 2.5 / (1 + s), ["lr"] = 0.001 }).ToJsonLine());
    }

    private AiSettings Settings(TimeSpan? timeout = null, double budget = 5) => new()
    {
        Model = "test-model", BaseUrl = _server.BaseUrl, ApiKey = "test-key", Timeout = timeout ?? TimeSpan.FromSeconds(30), BudgetUsd = budget,
        Cadence = 50, MinGap = 10, FirstStep = 20,
    };

    private AutopilotSession Session(string dir, string mode, AiSettings? settings = null, IReadOnlyList<Rule>? rules = null)
    {
        var s = settings ?? Settings();
        return new AutopilotSession(dir, mode, rules ?? [], ai: new AiPilot(dir, s, AiClients.Create(s)));
    }

    /// <summary>Polls until the call in flight has been answered and collected.</summary>
    private static async Task<List<Proposal>> Settle(AutopilotSession session)
    {
        var made = new List<Proposal>(session.Poll());
        await Wait.UntilAsync(() =>
        {
            made.AddRange(session.Poll());
            return !session.Ai!.Calling;
        }, "the AI call to be answered");
        return made;
    }

    private static List<JsonObject> Calls(string dir) =>
        [.. File.ReadAllLines(Path.Combine(dir, RunFiles.AutopilotAi)).Select(l => (JsonObject)JsonNode.Parse(l)!)];

    private static List<Command> Inbox(string dir) =>
        File.Exists(Path.Combine(dir, RunFiles.Commands))
            ? [.. File.ReadAllLines(Path.Combine(dir, RunFiles.Commands)).Where(l => l.Length > 0).Select(l => Command.FromJson(JsonNode.Parse(l)!))]
            : [];

    [Fact]
    public async Task In_ai_auto_the_model_s_actions_go_to_the_inbox_with_its_reasoning_and_the_call_is_recorded_with_its_cost()
    {
        var dir = Run();
        Metrics(dir, 0, 25);
        _server.Reply("""{"reasoning": "The loss is flattening; halve the rate.", "actions": [{"action": "lr_mult", "value": 0.5}], "next_check_in_steps": 30}""");
        var session = Session(dir, AutopilotMode.AiAuto);

        var made = await Settle(session);

        var p = Assert.Single(made);
        Assert.Equal((AutopilotSession.AiRule, ProposalStatus.Applied, "The loss is flattening; halve the rate."), (p.Rule, p.Status, p.Rationale));
        var sent = Assert.Single(Inbox(dir));
        Assert.Equal((Sources.Autopilot, 0.5), (sent.Source, (double)sent.Params!["scheduler_drop"]!));
        var call = Assert.Single(Calls(dir));
        Assert.Equal(("ok", 25L, 1000L, 200L), ((string)call["status"]!, (long)call["step"]!, (long)call["input_tokens"]!, (long)call["output_tokens"]!));
        Assert.Equal((1000 * 0.15 + 200 * 0.6) / 1e6, (double)call["cost_usd"]!, 12);
        Assert.Equal(55, (long)call["next_check"]!);
        Assert.Equal(session.Ai!.Spent, (double)call["spent_usd"]!, 12);

        // What the model was told: the goal, the trends, the dials and the actions with their bounds.
        var request = Assert.Single(_server.Requests);
        Assert.Equal("test-model", (string)request["model"]!);
        var messages = request["messages"]!.AsArray();
        Assert.Contains("`val_loss` as low as possible", (string)messages[0]!["content"]!);
        Assert.Contains("lr_mult: value = a factor for the learning rate, 0.01 to 10", (string)messages[0]!["content"]!);
        var user = (string)messages[1]!["content"]!;
        Assert.Contains("Step 25. Key metric: val_loss (lower is better)", user);
        Assert.Contains("| train_loss | 0.07692 |", user);
        Assert.Contains("- opt.lr group 0 = 0.001 (bounds 0..10)", user);
        Assert.Equal("json_object", (string)request["response_format"]!["type"]!);
    }

    [Fact]
    public async Task In_ai_suggest_the_model_s_actions_wait_for_a_person_and_the_rules_only_raise_alerts()
    {
        var dir = Run();
        Metrics(dir, 0, 25);
        _server.Reply("```json\n{\"reasoning\": \"Raise weight decay a little.\", \"actions\": [{\"action\": \"set_wd\", \"value\": 0.001}, {\"action\": \"noop\"}]}\n```");
        var rule = new Rule { Id = "low_loss", When = Conditions.Below, Metric = "train_loss", Threshold = 1, Action = new(AutopilotAction.LrMult, 0.1), Confidence = Confidences.High };
        var session = Session(dir, AutopilotMode.AiSuggest, rules: [rule]);

        var made = await Settle(session);

        Assert.Equal([(rule.Id, ProposalStatus.Alert), (AutopilotSession.AiRule, ProposalStatus.Suggested)], made.Select(p => (p.Rule, p.Status)));
        Assert.Empty(Inbox(dir));
        // The alert went into the prompt.
        Assert.Contains("- low_loss: train_loss = 0.07692 (below 1)", (string)_server.Requests.Single()["messages"]![1]!["content"]!);
        AutopilotSession.Accept(dir, made[1].Id, "cli");
        Assert.Equal(0.001, (double)Inbox(dir).Single().Params!["weight_decay"]!);
    }

    [Fact]
    public async Task A_malformed_reply_changes_nothing_and_is_recorded_as_such()
    {
        var dir = Run();
        Metrics(dir, 0, 25);
        _server.Reply("Sure! I would lower the learning rate.");
        var session = Session(dir, AutopilotMode.AiAuto);
        Assert.Empty(await Settle(session));
        var call = Assert.Single(Calls(dir));
        Assert.Equal("malformed", (string)call["status"]!);
        Assert.StartsWith("the reply is not JSON", (string)call["error"]!);
        Assert.Equal("Sure! I would lower the learning rate.", (string)call["reply"]!);
        Assert.Empty(Inbox(dir));
    }

    [Fact]
    public async Task Values_out_of_bounds_are_clamped_and_unknown_actions_dropped_saying_so()
    {
        var dir = Run();
        Metrics(dir, 0, 25);
        _server.Reply("""{"reasoning": "r", "actions": [{"action": "set_lr", "value": 5}, {"action": "delete_run"}, {"action": "lr_mult"}, {"action": "wd_mult", "value": 1000}]}""");
        var session = Session(dir, AutopilotMode.AiAuto);
        var made = await Settle(session);
        Assert.Equal([AutopilotAction.SetLr, AutopilotAction.WdMult], made.Select(p => p.Action.Kind));
        Assert.Equal([1.0, 10.0], made.Select(p => p.Action.Number!.Value));
        var notes = Calls(dir).Single()["notes"]!.AsArray().Select(n => (string)n!).ToList();
        Assert.Equal(["set_lr: value 5 clamped to 1", "dropped unknown action \"delete_run\"", "dropped lr_mult: no numeric value", "wd_mult: factor 1000 clamped to 10"], notes);
        Assert.Equal(1.0, (double)Inbox(dir)[0].Params!["lr"]!);
    }

    [Fact]
    public async Task A_slow_model_never_blocks_polling_and_a_call_past_its_timeout_is_recorded()
    {
        var dir = Run();
        Metrics(dir, 0, 25);
        _server.Hold("""{"reasoning": "late", "actions": [{"action": "lr_mult", "value": 0.5}]}""");
        var session = Session(dir, AutopilotMode.AiAuto, Settings(timeout: TimeSpan.FromSeconds(1)));
        Assert.Empty(session.Poll());
        Assert.True(session.Ai!.Calling);
        // More metrics come and are judged while the model has not answered.
        Metrics(dir, 26, 30);
        Assert.Empty(session.Poll());
        Assert.True(session.Ai.Calling);
        Assert.Empty(await Settle(session));
        var call = Assert.Single(Calls(dir));
        Assert.Equal(("timeout", "no answer within 1 s"), ((string)call["status"]!, (string)call["error"]!));
        Assert.Empty(Inbox(dir));
    }

    [Fact]
    public async Task Past_the_budget_the_AI_autopilot_stops_calling_and_says_so()
    {
        var dir = Run();
        Metrics(dir, 0, 25);
        // 40 million prompt tokens at 0.15 USD a million: 6 USD, past a budget of 5.
        _server.Reply("""{"reasoning": "r", "actions": []}""", promptTokens: 40_000_000, completionTokens: 0);
        var rule = new Rule { Id = "always", When = Conditions.Above, Metric = "train_loss", Threshold = -1, Action = new(AutopilotAction.LrMult, 0.5), Cooldown = 1 };
        var session = Session(dir, AutopilotMode.AiAuto, rules: [rule]);
        await Settle(session);
        var calls = Calls(dir);
        Assert.Equal(["ok", "over_budget"], calls.Select(c => (string)c["status"]!));
        Assert.Contains("the budget of 5 USD is spent (6 USD); no more calls", (string)calls[1]["error"]!);
        Assert.NotNull(session.Ai!.Disabled);
        // Alerts keep coming; no call follows.
        for (var s = 26; s < 100; s += 10)
        {
            Metrics(dir, s, s + 9);
            session.Poll();
        }
        Assert.Single(_server.Requests);
    }

    [Fact]
    public async Task Calls_wait_for_the_first_step_and_the_cadence_but_an_alert_comes_sooner()
    {
        var dir = Run();
        var rule = new Rule { Id = "alert_at_40", When = Conditions.Expression, ExpressionText = "step >= 40", Expression = Expressions.ExprParser.Parse("step >= 40"), Action = new(AutopilotAction.LrMult, 0.5), Cooldown = 1000 };
        var session = Session(dir, AutopilotMode.AiAuto, rules: [rule]);
        Metrics(dir, 0, 19);
        session.Poll();
        Assert.False(session.Ai!.Calling); // not before step 20
        Metrics(dir, 20, 20);
        await Settle(session);          // the first call, at step 20; the next is due at 70
        Metrics(dir, 21, 39);
        session.Poll();
        Assert.False(session.Ai.Calling);
        Metrics(dir, 40, 40);
        await Settle(session);          // the alert at 40 brings the call forward
        Assert.Equal([20L, 40L], Calls(dir).Select(c => (long)c["step"]!));
    }

    [Fact]
    public async Task An_endpoint_error_is_recorded_and_the_run_goes_on()
    {
        var dir = Run();
        Metrics(dir, 0, 25);
        _server.Fail(400);
        var session = Session(dir, AutopilotMode.AiAuto);
        Assert.Empty(await Settle(session));
        var call = Assert.Single(Calls(dir));
        Assert.Equal("error", (string)call["status"]!);
        Assert.Contains("400", (string)call["error"]!);
    }

    [Fact]
    public void Settings_that_cannot_work_are_refused()
    {
        Assert.Contains("needs a key", Assert.Throws<ProtocolException>(() => AiClients.Create(new AiSettings { ApiKey = null })).Message);
        Assert.Contains("is not an http(s) URL", Assert.Throws<ProtocolException>(() => AiClients.Create(new AiSettings { BaseUrl = "ftp://x" })).Message);
        var dir = Run();
        Assert.Contains("needs its model's settings", Assert.Throws<ProtocolException>(() => new AutopilotSession(dir, AutopilotMode.AiAuto, [])).Message);
    }
}
