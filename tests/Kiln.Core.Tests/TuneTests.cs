using System.Text.Json.Nodes;
using Kiln.Kernel;
using Kiln.Modules;
using Kiln.Modules.Opt;
using Kiln.Modules.Tune;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Core.Tests;

/// <summary>The <c>tune</c> module against a kernel: settings, the search, snapshots and verdicts.</summary>
public sealed class TuneTests
{
    /// <summary>A run state that counts: each capture is a distinct snapshot, and restores are recorded.</summary>
    private sealed class CountingState : IRunState
    {
        public int Weights { get; set; }
        public List<object> Restored { get; } = [];
        public List<object> Captured { get; } = [];

        public object Capture()
        {
            var s = new int[] { Weights };
            Captured.Add(s);
            return s;
        }

        public void Restore(object snapshot)
        {
            Restored.Add(snapshot);
            Weights = ((int[])snapshot)[0];
        }
    }

    private sealed class Run : IDisposable
    {
        private readonly TempDir _dir = new("tune");

        public Run(bool withState = true)
        {
            Dir = new RunDir(_dir.Path);
            Kernel = new KilnKernel(_dir.Path, new KernelOptions { Time = new ManualTimeProvider(), PollInterval = TimeSpan.Zero });
            Kernel.AddOptimizer(Optimizer);
            if (withState) Kernel.SetRunState(State);
        }

        public OptimizerDials Optimizer { get; } = new("adam", 0.01);
        public CountingState State { get; } = new();
        public RunDir Dir { get; }
        public KilnKernel Kernel { get; }
        public KernelEnv Env { get; } = new() { MaxSteps = 10_000 };

        /// <summary>An evaluation at <paramref name="step"/> reporting <paramref name="valLoss"/>.</summary>
        public void Eval(long step, double valLoss, double loss = 1)
        {
            Env.Metrics["val_loss"] = valLoss;
            Env.Loss = loss;
            Kernel.Apply(step, "val_epoch_end", Env);
        }

        public List<LedgerEntry> Tune(string op) => Dir.Ledger().Where(e => e.Module == "tune" && e.Op == op).ToList();

        public void Dispose()
        {
            Kernel.Dispose();
            _dir.Dispose();
        }
    }

    [Fact]
    public void Settings_take_dotted_paths_and_a_bad_pair_changes_nothing()
    {
        var s = new TuneSettings();
        s.Set((JsonObject)JsonNode.Parse("""{"mode": "active", "acceptance.epsilon": 0.002, "keys.lr.bounds": [0.5, 2], "keys.cls_w": {"cooldown": 2}}""")!);
        Assert.Equal(("active", 0.002, 0.5, 2.0), (s.Mode, s.Epsilon, s.Keys["lr"].Low, s.Keys["lr"].High));
        Assert.Equal(("loss", 2), (s.Keys["cls_w"].Module, s.Keys["cls_w"].Cooldown));
        var e = Assert.Throws<ProtocolException>(() => s.Set((JsonObject)JsonNode.Parse("""{"acceptance.epsilon": 0.5, "keys.lr.bounds": [2, 0.5]}""")!));
        Assert.Equal("keys.lr.bounds: factors need 0 < low < 1 < high, got [2, 0.5]", e.Message);
        Assert.Equal(0.002, s.Epsilon);
        Assert.StartsWith("nonsense: unknown setting (known: mode, ", Assert.Throws<ProtocolException>(() => s.Set(new JsonObject { ["nonsense"] = 1 })).Message);
        Assert.Equal("mode: expected one of off, observe, suggest, active, replay, got fast",
            Assert.Throws<ProtocolException>(() => s.Set(new JsonObject { ["mode"] = "fast" })).Message);
        Assert.Equal("keys.momentum: tune mutates lr, weight_decay and loss weights (<term>_w); momentum is none of them",
            Assert.Throws<ProtocolException>(() => s.Set(new JsonObject { ["keys.momentum"] = true })).Message);
    }

    [Fact]
    public void The_search_learns_which_factor_scores_best()
    {
        var search = new TuneSearch(seed: 1);
        var keys = new[] { ("lr", 0.25, 4.0) };
        var late = new List<double>();
        for (var i = 0; i < 60; i++)
        {
            var p = search.Propose(keys, startup: 6);
            // The best factor is 2: scores fall off with the distance in log.
            var score = -Math.Abs(Math.Log(p.Factor) - Math.Log(2));
            search.Tell(p.Key, p.Factor, score, kept: score > -0.3);
            if (i >= 40) late.Add(Math.Log(p.Factor));
        }
        late.Sort();
        Assert.InRange(Math.Exp(late[late.Count / 2]), 1.4, 2.9);
    }

    [Fact]
    public void A_segment_that_did_not_pay_rolls_the_state_and_the_rate_back_and_one_that_did_is_kept()
    {
        using var run = new Run();
        run.Dir.WriteConfig("version: 1\ntune:\n  params:\n    mode: active\n    search.startup: 100\n");
        run.Eval(9, 2.0);
        var mutation = Assert.Single(run.Tune("mutate"));
        Assert.Equal((Decision.Applied, Sources.Tune), (mutation.Decision, mutation.Source));
        var factor = (double)mutation.Payload!["factor"]!;
        Assert.Equal(0.01 * factor, run.Optimizer.Lr(0, 10), 12);
        run.State.Weights = 5;

        run.Eval(19, 2.5);
        var verdict = Assert.Single(run.Tune("verdict"));
        Assert.Equal(TuneModule.RolledBack, (string?)verdict.Payload!["decision"]);
        Assert.Same(run.State.Captured[0], Assert.Single(run.State.Restored));
        Assert.Equal(0, run.State.Weights);
        // The next mutation starts from the snapshot's objective, not the rejected segment's.
        var second = run.Tune("mutate")[1];
        Assert.Equal(2.0, (double)second.Payload!["pre"]!);

        run.Eval(29, 1.5);
        var kept = run.Tune("verdict")[1];
        Assert.Equal((TuneModule.Accepted, 0.5), ((string?)kept.Payload!["decision"], (double)kept.Payload!["improvement"]!));
        Assert.Single(run.State.Restored);
        var state = JsonNode.Parse(File.ReadAllText(run.Dir.Files.TunePath))!;
        Assert.Equal((1L, 1L, 3L), ((long)state["accepted"]!, (long)state["rolled_back"]!, (long)state["mutations"]!));
    }

    [Fact]
    public void A_non_finite_loss_rejects_the_segment_and_stops_proposals_while_it_lasts()
    {
        using var run = new Run();
        run.Dir.WriteConfig("version: 1\ntune:\n  params:\n    mode: active\n");
        run.Eval(9, 2.0);
        run.Eval(19, 1.0, loss: double.NaN);
        var verdict = Assert.Single(run.Tune("verdict"));
        Assert.Equal((TuneModule.RolledBack, "the loss or the objective is not finite"), ((string?)verdict.Payload!["decision"], (string?)verdict.Payload!["reason"]));
        Assert.Single(run.Tune("mutate"));
    }

    [Fact]
    public void A_run_without_a_state_to_roll_back_to_has_no_tune()
    {
        using var run = new Run(withState: false);
        run.Dir.Send("tune", "enable");
        run.Eval(9, 2.0);
        var line = Assert.Single(run.Tune("enable"));
        Assert.Equal((Decision.Rejected, "module: tune is not available in this run (known: core, opt, loss, cb)"), (line.Decision, line.Error));
        Assert.Equal(0.01, run.Optimizer.Lr(0, 10), 12);
    }

    [Fact]
    public void A_missing_objective_is_said_once()
    {
        using var run = new Run();
        run.Dir.WriteConfig("version: 1\ntune:\n  params:\n    mode: active\n    objective.metric: val_accuracy\n    objective.mode: max\n");
        run.Eval(9, 2.0);
        run.Eval(19, 2.0);
        var line = Assert.Single(run.Dir.Ledger(), l => l is { Module: "tune", Op: "safe_point" });
        Assert.StartsWith("objective.metric val_accuracy is not reported at val_epoch_end (metrics: val_loss)", line.Notes);
        Assert.Empty(run.Tune("mutate"));
    }
}
