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

    /// <summary>One segment: the rate at every step, the validation loss at its end; returns the next step.</summary>
    private static long Segment(MetricHistory h, long step, int n, double lr, double valLoss)
    {
        for (var i = 0; i < n; i++, step++) h.Add(step, "lr", lr);
        h.Add(step - 1, "val_loss", valLoss);
        return step;
    }

    [Fact]
    public void Going_up_helps_so_it_tries_a_hundredfold_and_goes_on_from_the_best_segment_s_end()
    {
        var h = new MetricHistory();
        var probe = new LrProbe();
        Assert.Empty(probe.Next(h));                                 // no rate reported yet
        // Trained from step 0 at its own rate up to the first validation: that is the first segment.
        var step = Segment(h, 0, 15, 1e-4, 1.5);
        var second = probe.Next(h);
        Assert.Equal([AutopilotAction.RestoreCheckpoint, AutopilotAction.SetLr], second.Select(a => a.Action.Kind));
        Assert.Equal(0, second[0].Back);
        Assert.Equal(1e-3, second[1].Action.Number!.Value, 12);
        Assert.Contains("segment 1 at lr 0.0001 ended at val_loss 1.5; back to step 0 to try lr 0.001", second[0].Rationale);
        step = Segment(h, step, 15, 1e-3, 0.9);
        var third = probe.Next(h);
        Assert.Equal(1e-2, third[1].Action.Number!.Value, 12);
        Segment(h, step, 15, 1e-2, 1.1);
        var done = probe.Next(h);
        Assert.True(probe.Done);
        // The tenfold rate ended lowest: back to the end of its segment (step 30), at its rate.
        Assert.Equal((AutopilotAction.RestoreCheckpoint, (long?)30), (done[0].Action.Kind, done[0].Back));
        Assert.Equal(1e-3, done[1].Action.Number!.Value, 12);
        Assert.StartsWith("learning-rate probe done: lr 0.001 ended lowest (val_loss after one segment each from step 0: 0.0001: 1.5, 0.001: 0.9, 0.01: 1.1)", done[1].Rationale);
        Assert.Empty(probe.Next(h));
    }

    [Fact]
    public void Joining_a_run_already_under_way_it_starts_its_first_segment_at_the_next_step()
    {
        var h = new MetricHistory();
        var probe = new LrProbe();
        var step = Segment(h, 100, 15, 1e-3, 2.0);
        Assert.Empty(probe.Next(h));                                 // the first segment starts at step 115
        Segment(h, step, 15, 1e-3, 1.5);
        var second = probe.Next(h);
        Assert.Equal(115, second[0].Back);
        Assert.Contains("back to step 115 to try lr 0.01", second[0].Rationale);
    }

    [Fact]
    public void Going_up_hurts_so_it_tries_a_tenth_and_a_diverged_segment_is_the_worst()
    {
        var h = new MetricHistory();
        var probe = new LrProbe();
        var step = Segment(h, 0, 15, 1e-2, 0.8);
        Assert.Equal(1e-1, probe.Next(h)[1].Action.Number!.Value, 12);
        step = Segment(h, step, 15, 1e-1, double.NaN);
        Assert.Equal(1e-3, probe.Next(h)[1].Action.Number!.Value, 12);
        Segment(h, step, 15, 1e-3, 0.7);
        var done = probe.Next(h);
        // The last segment is the best: the run goes on from where it is, no rollback.
        Assert.Equal(AutopilotAction.SetLr, done.Single().Action.Kind);
        Assert.Equal(1e-3, probe.Chosen!.Value, 12);
        Assert.Contains("the run goes on from its last segment", done.Single().Rationale);
    }

    [Fact]
    public void In_a_session_the_probe_goes_first_through_the_inbox_and_the_rules_judge_only_what_followed()
    {
        var dir = _dir.Sub("run");
        new RunControl(dir).Init();
        var always = new Rule { Id = "always", When = Conditions.Above, Metric = "val_loss", Threshold = 0, Action = new(AutopilotAction.LrMult, 0.5), Cooldown = 0 };
        var session = new AutopilotSession(dir, AutopilotMode.Auto, [always], probe: new LrProbe());
        var metrics = new MetricsLog(dir);
        metrics.Append(5, 1e-3, 1);
        Assert.Equal(2, session.Poll().Count(p => p.Rule == LrProbe.RuleId));   // the rule that always holds waits
        metrics.Append(5, 1e-2, 0.5);
        Assert.Equal(2, session.Poll().Count(p => p.Rule == LrProbe.RuleId));
        metrics.Append(5, 1e-1, 3);
        var done = session.Poll();
        Assert.All(done, p => Assert.Equal((LrProbe.RuleId, ProposalStatus.Applied), (p.Rule, p.Status)));
        metrics.Append(1, 1e-2, 0.5);
        Assert.Equal("always", session.Poll().Single().Rule);
        var sent = File.ReadAllLines(Path.Combine(dir, RunFiles.Commands)).Where(l => l.Length > 0).Select(l => Command.FromJson(System.Text.Json.Nodes.JsonNode.Parse(l)!)).ToList();
        Assert.All(sent, c => Assert.Equal(Sources.Autopilot, c.Source));
        Assert.Equal(["core", "opt", "core", "opt", "core", "opt", "opt"], sent.Select(c => c.Module));
        Assert.Equal([0L, 0L, 10L], sent.Where(c => c.Module == "core").Select(c => (long)c.Params!["at_or_before"]!));
        Assert.Equal(0.01, (double)sent[5].Params!["lr"]!, 12);
    }

    [Fact]
    public void The_decay_follows_a_cosine_from_the_chosen_rate_to_zero_at_the_budget_and_skips_small_moves()
    {
        var h = new MetricHistory();
        var anneal = new LrAnneal(budget: 110);
        Assert.Null(anneal.Next(h));                                  // not started: nothing
        anneal.Start(from: 10, peak: 0.01);
        h.Add(9, "lr", 0.01);
        Assert.Null(anneal.Next(h));                                  // step 10 is the peak, already set
        h.Add(14, "lr", 0.01);
        Assert.Null(anneal.Next(h));                                  // step 15 is within 2 % of it
        h.Add(59, "lr", 0.01);
        var half = anneal.Next(h)!.Value;                             // step 60: half-way, half the peak
        Assert.Equal((AutopilotAction.SetLr, 0.005), (half.Action.Kind, Math.Round(half.Action.Number!.Value, 12)));
        Assert.Equal("cosine decay after the probe: lr 0.005 at step 60 (50 % of the way from step 10 to 110, peak 0.01)", half.Rationale);
        h.Add(200, "lr", 0.005);
        Assert.Equal(0, anneal.Next(h)!.Value.Action.Number!.Value, 12); // past the budget: zero
        Assert.Throws<ArgumentOutOfRangeException>(() => new LrAnneal(0));
    }

    [Fact]
    public void In_a_session_the_decay_starts_where_the_probe_ends_and_a_decay_without_a_probe_is_refused()
    {
        var dir = _dir.Sub("anneal");
        new RunControl(dir).Init();
        Assert.Throws<ArgumentException>(() => new AutopilotSession(dir, AutopilotMode.Auto, [], anneal: new LrAnneal(100)));
        var session = new AutopilotSession(dir, AutopilotMode.Auto, [], probe: new LrProbe(), anneal: new LrAnneal(95));
        var metrics = new MetricsLog(dir);
        metrics.Append(5, 1e-3, 1);
        session.Poll();
        metrics.Append(5, 1e-2, 0.5);
        session.Poll();
        metrics.Append(5, 1e-1, 3);
        session.Poll();                                               // the probe ends at step 14: lr 0.01 from step 15
        Assert.True(session.Anneal!.Started);
        metrics.Append(40, 1e-2, 0.4);                                       // step 54: step 55 is half-way from 15 to 95
        var decay = session.Poll().Single();
        Assert.Equal((LrAnneal.RuleId, ProposalStatus.Applied), (decay.Rule, decay.Status));
        Assert.Equal(0.005, decay.Action.Number!.Value, 12);
    }

    /// <summary>A run's metrics file, written as a trainer would: steps counted on, the learning rate on every line.</summary>
    private sealed class MetricsLog(string dir)
    {
        private long _step;

        /// <summary>Appends <paramref name="n"/> steps at rate <paramref name="lr"/>, the last with a validation loss.</summary>
        public void Append(int n, double lr, double val)
        {
            for (var i = 0; i < n; i++, _step++)
            {
                var m = new Dictionary<string, double> { ["lr"] = lr };
                if (i == n - 1) m["val_loss"] = val;
                JsonlFile.Append(Path.Combine(dir, RunFiles.Metrics), new MetricsRecord(_step, 0, "train", 0, m).ToJsonLine());
            }
        }
    }
}
