using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Cli.Tests;

/// <summary><c>--autopilot</c> on a real launch, and <c>kiln autopilot list|accept|reject</c>.</summary>
public sealed class AutopilotCliTests : IDisposable
{
    private readonly TempDir _dir = new("autopilot-cli");

    public void Dispose() => _dir.Dispose();

    private string Rules(string yaml)
    {
        var file = Path.Combine(_dir.Path, "rules.yaml");
        File.WriteAllText(file, yaml);
        return file;
    }

    private KilnProcess.Result Launch(string run, params string[] more) =>
        KilnProcess.Run(_dir.Path, ["--plain", "launch", "--config", "simple", "--max-steps", "40", "--no-serve", "--run-dir", run, "--data-dir", _dir.Sub("empty"), .. more]);

    private static List<JsonObject> Lines(string path) =>
        [.. File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => (JsonObject)JsonNode.Parse(l)!)];

    [Fact]
    public void Auto_applies_through_the_kernel_and_the_ledger_holds_the_autopilot_s_command()
    {
        var run = Path.Combine(_dir.Path, "run");
        var rules = Rules("rules: [{id: halve_at_5, expr: \"step >= 5\", action: {lr_mult: 0.5}, confidence: high, cooldown: 100000}]");
        // Long enough (about 3 s) for the autopilot's half-second polls to see step 5 while the run still trains.
        var launch = KilnProcess.Run(_dir.Path, ["--plain", "launch", "--config", "simple", "--max-steps", "300", "--step-delay", "0.01", "--no-serve",
            "--run-dir", run, "--data-dir", _dir.Sub("empty"), "--autopilot", "auto", "--autopilot-rules", rules]);
        Assert.True(launch.ExitCode == 0, launch.ToString());
        Assert.Contains("autopilot: halve_at_5 at step", launch.Stdout);

        var proposal = Lines(Path.Combine(run, RunFiles.Autopilot)).Single();
        Assert.Equal("applied", (string)proposal["status"]!);
        var ledger = Lines(Path.Combine(run, RunFiles.Ledger)).Single(l => (string?)l["cid"] == (string?)proposal["cid"]);
        Assert.Equal(("autopilot", "applied", 0.5), ((string)ledger["source"]!, (string)ledger["decision"]!, (double)ledger["params"]!["scheduler_drop"]!));
        // The run's learning rate after the change is half the configured one.
        var lrs = Lines(Path.Combine(run, RunFiles.Metrics)).Where(l => l["metrics"]!["lr"] is not null).Select(l => (double)l["metrics"]!["lr"]!).ToList();
        Assert.Equal(0.001, lrs[0]);
        Assert.Equal(0.0005, lrs[^1], 12);

        var listed = KilnProcess.Run(_dir.Path, "--dir", run, "autopilot", "list", "--json");
        Assert.Equal((string?)proposal["id"], (string?)JsonNode.Parse(listed.Stdout)![0]!["id"]);
    }

    [Fact]
    public void Suggestions_wait_for_an_answer_from_the_command_line()
    {
        var run = Path.Combine(_dir.Path, "run");
        var rules = Rules("rules: [{id: ask, expr: \"step >= 3\", action: {set_lr: 0.0002}, cooldown: 100000}, {id: ask_again, expr: \"step >= 4\", action: {set_lr: 0.0003}, cooldown: 100000}]");
        Assert.Equal(0, Launch(run, "--autopilot", "suggest", "--autopilot-rules", rules).ExitCode);
        Assert.False(File.Exists(Path.Combine(run, RunFiles.Commands)) && File.ReadAllText(Path.Combine(run, RunFiles.Commands)).Contains("autopilot", StringComparison.Ordinal));

        var waiting = JsonNode.Parse(KilnProcess.Run(_dir.Path, "--dir", run, "autopilot", "list", "--waiting", "--json").Stdout)!.AsArray();
        Assert.Equal(["ask", "ask_again"], waiting.Select(p => (string)p!["rule"]!));
        var plain = KilnProcess.Run(_dir.Path, "--plain", "--dir", run, "autopilot", "list");
        Assert.Contains("lr = 0.0002", plain.Stdout);
        Assert.Contains("suggested", plain.Stdout);

        var accept = KilnProcess.Run(_dir.Path, "--plain", "--dir", run, "autopilot", "accept", (string)waiting[0]!["id"]!);
        Assert.True(accept.ExitCode == 0, accept.ToString());
        Assert.Contains("lr = 0.0002: accepted", accept.Stdout);
        var sent = Lines(Path.Combine(run, RunFiles.Commands)).Single();
        Assert.Equal(("autopilot", 0.0002), ((string)sent["source"]!, (double)sent["params"]!["lr"]!));

        Assert.Equal(0, KilnProcess.Run(_dir.Path, "--dir", run, "autopilot", "reject", (string)waiting[1]!["id"]!).ExitCode);
        var twice = KilnProcess.Run(_dir.Path, "--dir", run, "autopilot", "reject", (string)waiting[1]!["id"]!);
        Assert.Equal(1, twice.ExitCode);
        Assert.Contains("is rejected, not waiting for a decision", twice.Stderr);
        Assert.Single(Lines(Path.Combine(run, RunFiles.Commands)));
    }

    [Fact]
    public void The_AI_autopilot_steers_a_launch_through_a_local_OpenAI_compatible_server()
    {
        using var server = new FakeOpenAi();
        server.Reply("{\"reasoning\": \"Early and stable: lower the rate for the long run.\", \"actions\": [{\"action\": \"set_lr\", \"value\": 0.0005}]}");
        var run = Path.Combine(_dir.Path, "run");
        // Long enough for the first call (at step 20) to be answered and applied while the run trains.
        var launch = KilnProcess.Run(_dir.Path, ["--plain", "launch", "--config", "simple", "--max-steps", "400", "--step-delay", "0.01", "--no-serve",
            "--run-dir", run, "--data-dir", _dir.Sub("empty"), "--autopilot", "ai_auto", "--ai-base-url", server.BaseUrl, "--ai-model", "local-model", "--key-metric", "train_loss"]);
        Assert.True(launch.ExitCode == 0, launch.ToString());
        Assert.Contains("autopilot: ai_auto, 6 rules, local-model at " + server.BaseUrl, launch.Stdout);

        var call = Lines(Path.Combine(run, RunFiles.AutopilotAi)).First();
        Assert.Equal(("ok", "local-model"), ((string)call["status"]!, (string)call["model"]!));
        var proposal = Lines(Path.Combine(run, RunFiles.Autopilot)).Single(p => (string)p["rule"]! == "ai");
        Assert.Equal(("applied", "Early and stable: lower the rate for the long run."), ((string)proposal["status"]!, (string)proposal["rationale"]!));
        var ledger = Lines(Path.Combine(run, RunFiles.Ledger)).Single(l => (string?)l["cid"] == (string?)proposal["cid"]);
        Assert.Equal(("autopilot", "applied", 0.0005), ((string)ledger["source"]!, (string)ledger["decision"]!, (double)ledger["params"]!["lr"]!));
        Assert.Contains("`train_loss` as low as possible", server.Requests.First()["messages"]![0]!["content"]!.GetValue<string>());
        // The key never reaches the run's files.
        Assert.Equal("local-model", (string)JsonNode.Parse(File.ReadAllText(Path.Combine(run, RunFiles.AutopilotState)))!["ai"]!["model"]!);
    }

    [Fact]
    public void Bad_autopilot_flags_and_rules_are_refused_before_anything_starts()
    {
        var run = Path.Combine(_dir.Path, "run");
        var ai = KilnProcess.Run(_dir.Path, TimeSpan.FromSeconds(120), new Dictionary<string, string> { ["KILN_AI_KEY"] = "", ["OPENAI_API_KEY"] = "" },
            "launch", "--config", "simple", "--no-serve", "--run-dir", run, "--autopilot", "ai_suggest");
        Assert.Equal(2, ai.ExitCode);
        Assert.Contains("the AI autopilot needs a key for https://api.openai.com/v1: set KILN_AI_KEY", ai.Stderr);
        Assert.Equal(2, Launch(run, "--autopilot", "ai_auto", "--ai-base-url", "http://127.0.0.1:1/v1", "--ai-budget", "0").ExitCode);
        Assert.Equal(2, Launch(run, "--autopilot", "sideways").ExitCode);
        Assert.Equal(2, Launch(run, "--autopilot-rules", Rules("rules: []")).ExitCode);

        var bad = Launch(run, "--autopilot", "auto", "--autopilot-rules", Rules("rules: [{id: x, when: above, metric: loss, action: {lr_mult: 0.5}}]"));
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("rules.yaml: rules[0] (x).threshold: missing", bad.Stderr);
        Assert.False(Directory.Exists(run), "nothing starts on a bad rules file");

        var serve = KilnProcess.Run(_dir.Path, "--dir", _dir.Path, "serve", "--autopilot", "auto", "--port", "0");
        Assert.Equal(2, serve.ExitCode);
        Assert.Contains("--autopilot follows one run", serve.Stderr);
    }
}
