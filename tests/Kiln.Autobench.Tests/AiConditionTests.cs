using Kiln.Autopilot.Ai;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Autobench.Tests;

/// <summary>The bench's AI autopilot rows against a local OpenAI-compatible server: its answers steer the run through the inbox.</summary>
public sealed class AiConditionTests : IDisposable
{
    private readonly TempDir _dir = new("bench-ai");
    private readonly FakeOpenAi _server = new();

    public void Dispose()
    {
        _server.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public void With_an_endpoint_the_ai_rows_run_and_the_model_s_answer_lands_in_the_ledger()
    {
        _server.Reply("""{"reasoning": "The rate is far too high; cut it.", "actions": [{"action": "set_lr", "value": 0.003}]}""");
        var ai = new AiSettings { BaseUrl = _server.BaseUrl, Model = "test-model" };
        var task = TinyTask.Create();
        var conditions = Bench.Conditions(task, ai).Where(c => c.Name == "ai_autopilot").ToList();
        Assert.Equal([Condition.High, Condition.Low], conditions.Select(c => c.Start));
        Assert.Empty(Bench.NotRun(ai));

        var result = ConditionRunner.Run(task, task.Data(), conditions[0], 1, _dir.Sub("run"));
        Assert.Equal(RunInfo.Completed, result.Status);
        Assert.True(result.Actions >= 1, $"{result.Actions} actions");
        Assert.NotEmpty(_server.Requests);
        var ledger = Kiln.Kernel.Ledger.ReadAll(Path.Combine(result.RunDir, RunFiles.Ledger));
        var set = Assert.Single(ledger, l => l is { Module: "opt", Source: Sources.Autopilot });
        Assert.Equal((Decision.Applied, 0.003), (set.Decision, (double)set.Payload!["lr"]!));
        Assert.True(File.Exists(Path.Combine(result.RunDir, RunFiles.AutopilotAi)));
    }

    [Fact]
    public void Without_an_endpoint_the_ai_rows_are_listed_as_not_run_with_the_reason()
    {
        Assert.DoesNotContain(Bench.Conditions(TinyTask.Create()), c => c.Name == "ai_autopilot");
        var skipped = Assert.Single(Bench.NotRun());
        Assert.Equal("ai_autopilot", skipped.Name);
        Assert.StartsWith("no endpoint configured (--ai-base-url", skipped.NotRun);
    }
}
