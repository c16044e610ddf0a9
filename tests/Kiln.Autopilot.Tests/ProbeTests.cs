using Kiln.Autopilot.Actions;
using Kiln.Autopilot.Engine;
using Kiln.Autopilot.History;
using Kiln.Autopilot.Probe;
using Kiln.Autopilot.Rules;
using Kiln.Control;
using Kiln.IO;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Autopilot.Tests;

/// <summary>The learning-rate probe, fed numbers: its segments, where it stops climbing, the rate it sets, and the session around it.</summary>
public sealed class ProbeTests : IDisposable
{
    private readonly TempDir _dir = new("probe");

    public void Dispose() => _dir.Dispose();

    /// <summary>Feeds <paramref name="n"/> steps of a loss falling by <paramref name="slope"/> per step (from <paramref name="from"/>), at the rate <paramref name="lr"/>.</summary>
    private static long Feed(MetricHistory h, long step, int n, double from, double slope, double lr)
    {
        for (var i = 0; i < n; i++, step++)
        {
            h.Add(step, "lr", lr);
            h.Add(step, "train_loss", from + slope * i);
        }
        return step;
    }

    [Fact]
    public void The_slope_is_least_squares_and_a_loss_that_is_not_a_number_is_the_worst()
    {
        Assert.Equal(-0.5, LrProbe.Slope([3, 2.5, 2, 1.5]), 12);
        Assert.Equal(double.PositiveInfinity, LrProbe.Slope([1, double.NaN, 0.5]));
    }

    [Fact]
    public void It_tries_each_rate_lowest_first_and_sets_the_one_whose_loss_fell_fastest()
    {
        var h = new MetricHistory();
        var probe = new LrProbe { Factors = [0.1, 1, 10], Skip = 1, MinPoints = 3 };
        Assert.Null(probe.Next(h));                                  // no rate reported yet
        var step = Feed(h, 0, 5, 2.3, -0.01, 1e-4);
        var first = probe.Next(h)!.Value;
        Assert.Equal(new AutopilotAction(AutopilotAction.SetLr, 1e-5), first.Action);
        Assert.Contains("segment 1 of 3 at lr 1E-05 (0.1 × 0.0001)", first.Rationale);
        step = Feed(h, step, 3, 2.2, -0.001, 1e-5);
        Assert.Null(probe.Next(h));                                  // 3 points, 1 skipped: too few to judge
        step = Feed(h, step, 2, 2.197, -0.001, 1e-5);
        Assert.Equal(1e-4, probe.Next(h)!.Value.Action.Number!.Value, 12);
        step = Feed(h, step, 6, 2.1, -0.05, 1e-4);
        Assert.Equal(1e-3, probe.Next(h)!.Value.Action.Number!.Value, 12);
        Feed(h, step, 6, 1.9, -0.02, 1e-3);
        var done = probe.Next(h)!.Value;
        Assert.True(probe.Done);
        Assert.Equal(1e-4, done.Action.Number!.Value, 12);
        Assert.StartsWith("learning-rate probe done: lr 0.0001 made the loss fall fastest", done.Rationale);
        Assert.Equal(3, probe.Segments.Count);
        Assert.Null(probe.Next(h));
    }

    [Fact]
    public void It_stops_climbing_at_the_first_rate_whose_loss_rises()
    {
        var h = new MetricHistory();
        var probe = new LrProbe { Factors = [0.1, 1, 10, 100], Skip = 0, MinPoints = 3 };
        var step = Feed(h, 0, 2, 2.3, -0.01, 1e-2);
        probe.Next(h);
        step = Feed(h, step, 3, 2.2, -0.03, 1e-3);
        probe.Next(h);
        Feed(h, step, 3, 2.2, +0.2, 1e-2);
        var done = probe.Next(h)!.Value;
        Assert.True(probe.Done);
        Assert.Equal(1e-3, done.Action.Number!.Value, 12);
        Assert.Contains("the loss rose at lr 0.01, so higher rates were not tried", done.Rationale);
    }

    [Fact]
    public void In_a_session_the_probe_goes_first_through_the_inbox_and_the_rules_judge_only_what_followed()
    {
        var dir = _dir.Sub("run");
        new RunControl(dir).Init();
        var always = new Rule { Id = "always", When = Conditions.Above, Metric = "train_loss", Threshold = 0, Action = new(AutopilotAction.LrMult, 0.5), Cooldown = 0 };
        var session = new AutopilotSession(dir, AutopilotMode.Auto, [always], probe: new LrProbe { Factors = [1, 2], Skip = 0, MinPoints = 2 });
        long step = 0;
        void Metrics(int n, double lr)
        {
            for (var i = 0; i < n; i++, step++)
                JsonlFile.Append(Path.Combine(dir, RunFiles.Metrics), new MetricsRecord(step, 0, "train", 0,
                    new Dictionary<string, double> { ["lr"] = lr, ["train_loss"] = 2 - 0.1 * step * lr }).ToJsonLine());
        }
        Metrics(2, 1);
        Assert.Equal(LrProbe.RuleId, session.Poll().Single().Rule);   // segment 1; the rule that always holds waits
        Metrics(2, 1);
        Assert.Equal(LrProbe.RuleId, session.Poll().Single().Rule);   // segment 2
        Metrics(2, 2);
        var done = session.Poll().Single();
        Assert.Equal((LrProbe.RuleId, ProposalStatus.Applied, 2.0), (done.Rule, done.Status, done.Action.Number));
        Metrics(1, 2);
        Assert.Equal("always", session.Poll().Single().Rule);
        var sent = File.ReadAllLines(Path.Combine(dir, RunFiles.Commands)).Where(l => l.Length > 0).Select(l => Command.FromJson(System.Text.Json.Nodes.JsonNode.Parse(l)!)).ToList();
        Assert.Equal(4, sent.Count);
        Assert.All(sent, c => Assert.Equal(Sources.Autopilot, c.Source));
        Assert.Equal([1.0, 2.0, 2.0], sent.Take(3).Select(c => (double)c.Params!["lr"]!));
    }
}
