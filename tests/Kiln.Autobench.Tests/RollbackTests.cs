using System.Text.Json.Nodes;
using Kiln.Autopilot.Engine;
using Kiln.Autopilot.Rules;
using Kiln.Control;
using Kiln.Kernel;
using Kiln.Metrics;
using Kiln.Protocol;
using Kiln.Replay;
using Kiln.Testing;

namespace Kiln.Autobench.Tests;

/// <summary>A real run made to diverge: the autopilot rolls it back to its last healthy checkpoint through the inbox, and the recipe replays it.</summary>
public sealed class RollbackTests : IDisposable
{
    private readonly TempDir _dir = new("rollback");

    public void Dispose() => _dir.Dispose();

    /// <summary>Someone sets a rate of 8 (the dial's bound is 10) at the validation after step 20; the autopilot (divergence rules of <see cref="RuleSet.Steer"/>) watches.</summary>
    private sealed class Sabotage(string runDir) : IBenchController
    {
        private readonly AutopilotSession _autopilot = new(runDir, AutopilotMode.Auto, [.. RuleSet.Steer().Where(r => r.Id is "divergence_rollback" or "divergence")]);
        private readonly MetricsReader _reader = new(Path.Combine(runDir, RunFiles.Metrics));
        private bool _sent;

        public int Actions { get; private set; }

        public void Poll()
        {
            _reader.Read();
            var step = _reader.Series["train_loss"].Steps[^1];
            if (!_sent && step >= 20)
            {
                new RunControl(runDir, "test").SetParams("opt", null, new JsonObject { ["lr"] = 8.0 });
                _sent = true;
            }
            Actions += _autopilot.Poll().Count(p => p.Status == ProposalStatus.Applied);
        }
    }

    private sealed class Nobody : IBenchController
    {
        public int Actions => 0;
        public void Poll() { }
    }

    private static List<string> Metrics(string runDir) =>
        [.. File.ReadAllLines(Path.Combine(runDir, RunFiles.Metrics)).Select(l => { var o = (JsonObject)JsonNode.Parse(l)!; o.Remove("wall_time"); return o.ToJsonString(); })];

    [Fact]
    public void A_diverging_run_is_rolled_back_to_its_last_healthy_checkpoint_and_its_recipe_replays_it()
    {
        var task = TinyTask.Create() with { Steps = 60, EvalEvery = 4 };
        var data = task.Data();
        var setup = new BenchSetup(BenchSetup.Adam, task.GoodLr);
        var run = ConditionRunner.Run(task, data, new Condition("autopilot", Condition.Default, setup, dir => new Sabotage(dir)), 5, Path.Combine(_dir.Path, "run"));
        Assert.Equal("completed", run.Status);

        var ledger = Ledger.ReadAll(Path.Combine(run.RunDir, RunFiles.Ledger));
        var sabotage = ledger.Single(e => e.Source == "test");
        var rollback = ledger.Single(e => e.Module == "core" && e.Op == "restore_checkpoint");
        Assert.Equal((Decision.Applied, Sources.Autopilot), (rollback.Decision, rollback.Source));
        var restored = (long)rollback.Payload!["restored_step"]!;
        var healthy = (long)rollback.Payload!["at_or_before"]!;
        // The healthy point is the divergence window's first, before the sabotage; the checkpoint is the newest at or before it.
        Assert.True(healthy <= sabotage.Step, $"healthy {healthy}, sabotage at {sabotage.Step}");
        Assert.Equal(healthy / task.EvalEvery * task.EvalEvery, restored);
        // The tenfold cut lands after the rollback, on the rate the checkpoint had: 0.01 × 0.1.
        var cut = ledger.Single(e => e.Source == Sources.Autopilot && e.Module == "opt");
        Assert.True(cut.Seq > rollback.Seq);
        var train = new MetricsReader(Path.Combine(run.RunDir, RunFiles.Metrics));
        train.Read();
        var loss = train.Series["train_loss"];
        var lr = train.Series["lr"];
        Assert.Equal(0.001, lr.Values[^1], 9);
        var peak = loss.Values.ToArray().Max();
        Assert.True(peak > 5, $"the run did not diverge (peak loss {peak})");
        Assert.True(loss.Values.ToArray()[^5..].Average() < 1.5, "the rollback did not bring the loss back");

        // Replay: the recipe (the sabotage, the rollback, the cut) on a fresh run with the same seed gives the same metrics.
        var recipe = RecipeFile.Export(ledger);
        Assert.Contains(recipe, e => e.Module == "core" && e.Op == "restore_checkpoint");
        var replay = ConditionRunner.Run(task, data, new Condition("replay", Condition.Default, setup, _ => new Nobody()), 5, Path.Combine(_dir.Path, "replay"),
            prepare: dir =>
            {
                RecipeFile.Write(Path.Combine(dir, RunFiles.Recipe), recipe);
                new RunControl(dir).SetFreeze(new FreezeState { Mode = FreezeState.Replay, RecipePath = RunFiles.Recipe, Policy = FreezeState.Strict }, create: true);
            });
        Assert.Equal("completed", replay.Status);
        var (m1, m2) = (Metrics(run.RunDir), Metrics(replay.RunDir));
        var at = Enumerable.Range(0, Math.Min(m1.Count, m2.Count)).FirstOrDefault(i => m1[i] != m2[i], -1);
        Assert.True(at < 0 && m1.Count == m2.Count, at < 0 ? "lengths differ" : $"{m1[at]}\n{m2[at]}\n{string.Join("\n", File.ReadAllLines(Path.Combine(replay.RunDir, RunFiles.Ledger)).Where(l => l.Contains("replay")))}\n--\n{string.Join("\n", File.ReadAllLines(Path.Combine(run.RunDir, RunFiles.Ledger)).Where(l => l.Contains("autopilot") || l.Contains("test")))}");
    }
}
