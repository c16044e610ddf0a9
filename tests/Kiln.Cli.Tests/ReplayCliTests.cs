using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Cli.Tests;

/// <summary>
/// The replay flow of the README with real processes: record a run steered by hand (a C# callback among its changes),
/// export its recipe, and replay it in new directories — the README's way, in one step, and from a recipe exported
/// elsewhere — after the callback's source file is gone.
/// </summary>
public sealed class ReplayCliTests
{
    private const string Probe = """
        public sealed class Probe(string id, int every = 5) : IKilnCallback
        {
            public string Id { get; } = id;
            public int Every { get; private set; } = every;
            public void SetParams(JsonObject p) { if (p["every"] is { } e) Every = (int)e; }
            public void Handle(string evt, KernelEnv env) { if (env.Step % Every == 0) env.Emit(("probe", env.Step)); }
        }
        """;

    private static List<string> Losses(string run) =>
        [.. File.ReadLines(Path.Combine(run, RunFiles.Metrics)).Select(l => JsonNode.Parse(l)!)
            .Where(l => l["metrics"]?["train_loss"] is not null).Select(l => $"{l["step"]}:{l["metrics"]!["train_loss"]}")];

    private static IEnumerable<LedgerEntry> Ledger(string run) =>
        File.ReadLines(Path.Combine(run, RunFiles.Ledger)).Select(l => LedgerEntry.FromJson(JsonNode.Parse(l)!));

    private static string[] Train(TempDir dir, string run, params string[] more) =>
        ["launch", "--no-serve", "--config", "simple", "--max-steps", "40", "--seed", "7", "--data-dir", dir.Sub("empty"),
            "--param", "eval_every=20", "--run-dir", run, "--plain", .. more];

    [Fact]
    public async Task A_recipe_replays_anywhere_with_its_callbacks_and_reproduces_the_run()
    {
        using var dir = new TempDir("replay");
        var original = Path.Combine(dir.Path, "runs", "exp-001");
        File.WriteAllText(dir.File("Probe.cs"), Probe);
        using (var trainer = KilnProcess.Start(dir.Path, null, Train(dir, original, "--step-delay", "0.05")))
        {
            await Wait.UntilAsync(() => File.Exists(Path.Combine(original, RunFiles.Actuators)), "the first run's dials");
            var load = KilnProcess.Run(dir.Path, "--dir", "runs/exp-001", "cb", "load", "probe", "--file", "Probe.cs", "--enabled", "--wait", "60");
            Assert.True(load.ExitCode == 0, load.ToString());
            var set = KilnProcess.Run(dir.Path, "--dir", "runs/exp-001", "set", "lr=0.003", "--wait", "60");
            Assert.True(set.ExitCode == 0, set.ToString());
            await trainer.WaitForExitAsync();
            Assert.Equal(0, trainer.ExitCode);
        }
        Assert.Equal(0, KilnProcess.Run(dir.Path, "--dir", "runs/exp-001", "recipe", "export").ExitCode);
        File.Delete(dir.File("Probe.cs"));

        // The README's way: init, freeze with a path relative to the run directory, launch into it.
        Assert.Equal(0, KilnProcess.Run(dir.Path, "--dir", "runs/exp-002", "init").ExitCode);
        var freeze = KilnProcess.Run(dir.Path, "--dir", "runs/exp-002", "freeze", "--mode", "replay", "--recipe", "../exp-001/kiln.recipe.jsonl", "--policy", "strict");
        Assert.True(freeze.ExitCode == 0, freeze.ToString());
        var second = KilnProcess.Run(dir.Path, Train(dir, Path.Combine(dir.Path, "runs", "exp-002")));
        Assert.True(second.ExitCode == 0, second.ToString());

        // In one step, from a recipe exported outside any run.
        Assert.Equal(0, KilnProcess.Run(dir.Path, "--dir", "runs/exp-001", "recipe", "export", "--out", "shared/r.jsonl").ExitCode);
        Assert.Single(Directory.GetFiles(Path.Combine(dir.Path, "shared", RunFiles.SourcesDir)));
        var third = KilnProcess.Run(dir.Path, Train(dir, Path.Combine(dir.Path, "runs", "exp-003"), "--replay", "shared/r.jsonl", "--replay-policy", "strict"));
        Assert.True(third.ExitCode == 0, third.ToString());

        var expected = Losses(original);
        foreach (var replay in new[] { "exp-002", "exp-003" })
        {
            var run = Path.Combine(dir.Path, "runs", replay);
            Assert.Equal(expected, Losses(run));
            var replayed = Ledger(run).Where(e => e.Source == Sources.Replay).ToList();
            Assert.Equal([("cb", "load"), ("opt", "set_params")], replayed.Select(e => (e.Module!, e.Op!)));
            Assert.All(replayed, e => Assert.Equal(Decision.Applied, e.Decision));
        }
    }

    [Fact]
    public void A_recipe_named_from_the_wrong_place_says_where_it_looked()
    {
        using var dir = new TempDir("replay");
        KilnProcess.Run(dir.Path, "--dir", "runs/exp-002", "init");
        var result = KilnProcess.Run(dir.Path, "--dir", "runs/exp-002", "freeze", "--mode", "replay", "--recipe", "exp-001/kiln.recipe.jsonl");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("exp-001/kiln.recipe.jsonl: recipe not found in the run directory", result.Stderr);
        Assert.Contains(Path.Combine(dir.Path, "runs", "exp-002", "exp-001", "kiln.recipe.jsonl"), result.Stderr);
        Assert.Contains("relative paths are the run directory's", result.Stderr);
    }
}
