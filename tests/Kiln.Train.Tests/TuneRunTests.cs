using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Kernel;
using Kiln.Modules.Tune;
using Kiln.Protocol;
using Kiln.Replay;
using Kiln.Runs;
using Kiln.Testing;
using Kiln.Train.Runs;

namespace Kiln.Train.Tests;

/// <summary><c>tune</c> on the built-in runs: mutations through <c>opt</c>, verdicts that roll weights and optimizer back, exact replay.</summary>
public sealed class TuneRunTests
{
    private static LaunchOptions Synthetic(TempDir dir, string run, long steps, string? tune, string param = "eval_every=10 lr=0.0001")
    {
        var runDir = dir.Sub(run);
        if (tune is not null)
        {
            Directory.CreateDirectory(runDir);
            File.WriteAllText(Path.Combine(runDir, RunFiles.Config), "version: 1\ntune:\n  params:\n" + tune);
        }
        return new LaunchOptions
        {
            Function = BuiltInRuns.Get("simple"),
            RunDir = runDir,
            MaxSteps = steps,
            Seed = 3,
            DataDir = dir.Sub("no-data"),
            Params = KeyValueParser.Parse(param.Split(' ')),
        };
    }

    private static Dictionary<long, double> Lr(string runDir) =>
        File.ReadLines(Path.Combine(runDir, RunFiles.Metrics)).Select(l => JsonNode.Parse(l)!)
            .Where(n => (string?)n["phase"] == "train")
            .ToDictionary(n => (long)n["step"]!, n => (double)n["metrics"]!["lr"]!);

    private const string Active = "    mode: active\n    search.startup: 3\n";

    [Fact]
    public void Each_mutation_is_ledgered_through_opt_and_each_rejected_one_rolls_the_rate_back()
    {
        using var dir = new TempDir("tune");
        var result = RunLauncher.Run(Synthetic(dir, "run", 200, Active));
        Assert.Equal(RunInfo.Completed, result.Status);
        var ledger = Ledger.ReadAll(Path.Combine(result.RunDir, RunFiles.Ledger));
        var mutations = ledger.Where(l => l is { Module: "tune", Op: "mutate" }).ToList();
        var verdicts = ledger.Where(l => l is { Module: "tune", Op: "verdict" }).ToList();
        Assert.True(mutations.Count >= 10, $"{mutations.Count} mutations in 20 evaluations");
        Assert.All(mutations, m => Assert.Equal((Decision.Applied, Sources.Tune), (m.Decision, m.Source)));
        // Each mutation is followed by the opt change that makes it, from tune.
        foreach (var m in mutations)
        {
            var next = ledger[ledger.IndexOf(m) + 1];
            Assert.Equal(("opt", "set_params", Sources.Tune, Decision.Applied), (next.Module, next.Op, next.Source, next.Decision));
            Assert.Equal((double)m.Payload!["to"]!["lr"]!, (double)next.Payload!["lr"]!, 12);
        }
        Assert.True(verdicts.Count >= mutations.Count - 1);
        var lr = Lr(result.RunDir);
        var rolledBack = verdicts.Where(v => (string?)v.Payload!["decision"] == TuneModule.RolledBack).ToList();
        var accepted = verdicts.Where(v => (string?)v.Payload!["decision"] == TuneModule.Accepted).ToList();
        Assert.NotEmpty(rolledBack);
        Assert.NotEmpty(accepted);
        foreach (var v in rolledBack)
        {
            // The step after a rollback trains at the rate from before the mutation (Adam here keeps no schedule).
            var segment = (long)v.Payload!["segment"]!;
            var mutation = mutations.Single(m => (long)m.Payload!["segment"]! == segment);
            var before = (double)mutation.Payload!["from"]!["0"]!;
            var step = v.Step!.Value;
            if (ledger.Any(l => l is { Module: "opt" } && l.Step == step && ledger.IndexOf(l) > ledger.IndexOf(v))) continue;
            Assert.Equal(before, lr[step + 1], 12);
        }
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(result.RunDir, RunFiles.TuneState)))!;
        Assert.Equal(accepted.Count, (long)state["accepted"]!);
        Assert.Equal(rolledBack.Count, (long)state["rolled_back"]!);
        Assert.Equal("active", (string?)state["settings"]!["mode"]);
    }

    [Fact]
    public void A_tuned_run_replays_bit_for_bit_from_its_recipe()
    {
        using var dir = new TempDir("tune-replay");
        var original = RunLauncher.Run(Synthetic(dir, "original", 120, Active));
        Assert.Equal(RunInfo.Completed, original.Status);
        var recipe = RecipeFile.Export(Ledger.ReadAll(Path.Combine(original.RunDir, RunFiles.Ledger)));
        Assert.Contains(recipe, e => e is { Module: "tune", Op: "verdict" } && (string?)e.Params!["decision"] == TuneModule.RolledBack);
        var replay = Synthetic(dir, "replay", 120, tune: null);
        RecipeFile.Write(Path.Combine(replay.RunDir!, RunFiles.Recipe), recipe);
        new Kiln.Control.RunControl(replay.RunDir!).SetFreeze(new FreezeState { Mode = FreezeState.Replay, RecipePath = RunFiles.Recipe, Policy = FreezeState.Strict }, create: true);
        var replayed = RunLauncher.Run(replay);
        Assert.Equal(RunInfo.Completed, replayed.Status);
        Assert.Equal(new RunDir(original.RunDir).MetricLines(), new RunDir(replayed.RunDir).MetricLines());
        // The replay made no proposal of its own: every tune line came from the recipe.
        var lines = Ledger.ReadAll(Path.Combine(replayed.RunDir, RunFiles.Ledger)).Where(l => l.Module == "tune").ToList();
        Assert.All(lines, l => Assert.Equal(Sources.Replay, l.Source));
        Assert.Equal(recipe.Count(e => e.Module == "tune"), lines.Count);
    }

    [Fact]
    public void Suggest_mode_ledgers_proposals_and_changes_nothing()
    {
        using var dir = new TempDir("tune-suggest");
        var plain = RunLauncher.Run(Synthetic(dir, "plain", 60, tune: null));
        var suggested = RunLauncher.Run(Synthetic(dir, "suggest", 60, "    mode: suggest\n"));
        Assert.Equal(new RunDir(plain.RunDir).MetricLines(), new RunDir(suggested.RunDir).MetricLines());
        var ledger = Ledger.ReadAll(Path.Combine(suggested.RunDir, RunFiles.Ledger));
        var suggestions = ledger.Where(l => l is { Module: "tune", Op: "suggest" }).ToList();
        Assert.NotEmpty(suggestions);
        Assert.All(suggestions, s => Assert.Equal(Decision.SkippedNoop, s.Decision));
        Assert.DoesNotContain(ledger, l => l.Source == Sources.Tune && l.Decision == Decision.Applied);
        Assert.Empty(RecipeFile.Export(ledger));
    }

    [Fact]
    public void A_frozen_run_is_not_tuned()
    {
        using var dir = new TempDir("tune-frozen");
        var options = Synthetic(dir, "run", 60, Active);
        new Kiln.Control.RunControl(options.RunDir!).SetFreeze(new FreezeState { Mode = FreezeState.Prod }, create: true);
        var result = RunLauncher.Run(options);
        Assert.Equal(RunInfo.Completed, result.Status);
        Assert.DoesNotContain(Ledger.ReadAll(Path.Combine(result.RunDir, RunFiles.Ledger)), l => l.Module == "tune" && l.Op is "mutate" or "suggest");
    }
}
