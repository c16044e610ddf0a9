using System.Text.Json.Nodes;
using Kiln.Control;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Autobench.Tests;

/// <summary>The bench's pieces on a task of a few dozen steps: real runs, real kernel, real files.</summary>
public sealed class BenchTests : IDisposable
{
    private readonly TempDir _dir = new("autobench");

    public void Dispose() => _dir.Dispose();

    private static BenchTask Tiny => TinyTask.Create();

    private static List<JsonObject> Ledger(string runDir) =>
        [.. File.ReadAllLines(Path.Combine(runDir, RunFiles.Ledger)).Where(l => l.Length > 0 && l.Contains("\"cid\"")).Select(l => (JsonObject)JsonNode.Parse(l)!)];

    [Fact]
    public void Reduce_lr_on_plateau_follows_keras_patience_min_delta_and_cooldown()
    {
        var run = _dir.Sub("plateau");
        new RunControl(run).Init();
        var c = new PlateauController(run) { Patience = 2, Cooldown = 1 };
        // 1.0 best; 0.99995 is within min_delta (no improvement): wait 1, 2 → reduce at step 2. As in Keras, the
        // evaluation that ends the cooldown already counts: step 3 waits 1, step 4 waits 2 → reduce at step 4.
        double[] losses = [1.0, 0.99995, 0.99995, 1.0, 1.0, 1.0];
        for (var i = 0; i < losses.Length; i++) c.Observe(i, losses[i]);
        Assert.Equal([2L, 4L], c.Reductions);
        var sent = File.ReadAllLines(Path.Combine(run, RunFiles.Commands)).Select(l => (JsonObject)JsonNode.Parse(l)!).ToList();
        Assert.All(sent, s => Assert.Equal((PlateauController.Source, "opt", 0.1), ((string?)s["source"], (string?)s["module"], (double)s["params"]!["scheduler_drop"]!)));
    }

    [Fact]
    public void A_steered_run_s_commands_go_through_the_kernel_and_cut_the_rate()
    {
        var task = Tiny;
        var condition = new Condition("reduce_lr_on_plateau", Condition.High, new BenchSetup(BenchSetup.Adam, 0.1),
            dir => new PlateauController(dir) { Patience = 1, MinDelta = 10 });          // nothing counts as better: cut at every validation
        var result = ConditionRunner.Run(task, task.Data(), condition, seed: 1, Path.Combine(_dir.Path, "run"));
        Assert.Equal("completed", result.Status);
        Assert.Equal(40, result.Compute);
        Assert.Equal(20, result.ValAccuracy.Length);
        Assert.True(result.Actions >= 10, $"{result.Actions} actions");
        var applied = Ledger(result.RunDir).Where(e => (string?)e["source"] == PlateauController.Source).ToList();
        // The cut sent at the last validation is never read: the run has ended.
        Assert.Equal(result.Actions - 1, applied.Count(e => (string?)e["decision"] == "applied"));
        // The first validation (step 1) sets the best; the second (step 3) sends the first cut, which the kernel applies
        // at the next safe point, step 4.
        Assert.Equal(4, (long)applied[0]["step"]!);
    }

    [Fact]
    public void The_same_seed_gives_the_same_steered_run()
    {
        var task = Tiny;
        var condition = new Condition("autopilot", Condition.High, new BenchSetup(BenchSetup.Adam, 1.0), dir => new AutopilotController(dir));
        var a = ConditionRunner.Run(task, task.Data(), condition, 3, Path.Combine(_dir.Path, "a"));
        var b = ConditionRunner.Run(task, task.Data(), condition, 3, Path.Combine(_dir.Path, "b"));
        Assert.Equal(a.ValAccuracy, b.ValAccuracy);
        Assert.Equal(a.Actions, b.Actions);
    }

    [Fact]
    public void Eval_writes_the_table_the_json_and_the_plot_with_every_condition()
    {
        var outDir = _dir.Sub("out");
        var report = Bench.Run(new BenchOptions { Suite = BenchOptions.EvalSuite, OutDir = outDir, Seeds = 1, Tasks = [Tiny] });
        var table = File.ReadAllText(Path.Combine(outDir, BenchReport.TableFile));
        foreach (var name in new[] { "fixed", "reduce_lr_on_plateau", "schedule_free", "autopilot", "cosine_tuned", "pbt-4", "tune", "ai_autopilot" })
            Assert.Contains($"| {name} |", table);
        Assert.Contains("not run", table);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, BenchReport.JsonFile)))!;
        Assert.Equal(report.Rows.Count, json["rows"]!.AsArray().Count);
        // 11 conditions (PBT's and tune's two starts among them) and the grid's best point, one seed each; the note names every grid point's result.
        Assert.Equal(12, json["runs"]!.AsArray().Count);
        // tune ran as a module of the run, and mutated it.
        Assert.All(report.Rows.Where(r => r.Condition == "tune"), r => Assert.True(r.Runs.Single().Actions > 0, $"tune {r.Start}: no mutation"));
        var cosine = report.Rows.Single(r => r.Condition == "cosine_tuned");
        Assert.Equal(40 * 5, cosine.Compute);
        Assert.Equal(5, cosine.Note!.Split(',').Length);
        Assert.All(report.Rows.Where(r => r.NotRun is null), r => Assert.True(double.IsFinite(r.FinalMean)));
        var png = File.ReadAllBytes(Path.Combine(outDir, BenchReport.PlotFile("tiny")));
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
    }
}
