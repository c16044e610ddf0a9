using Kiln.Control;
using Kiln.Protocol;
using Kiln.Trials.Expansion;
using Kiln.Trials.Running;

namespace Kiln.Trials.Tests;

/// <summary>Trials started over: an unfinished attempt is continued with its changes replayed, a finished one rerun from scratch.</summary>
public sealed class AttemptTests
{
    private const string Small = "seed: 0\ndataset: synthetic\nmodel: {type: mlp, hidden: [16]}\nepochs: 1000\nbatch_size: 64\n";

    private static async Task<RunSummary> RunAsync(Tree tree, CancellationToken stop = default, Func<TrialSpec, bool>? rerun = null)
    {
        await using var executor = TrialJobs.InProcessExecutor(tree.Root, 1);
        return await TrialRunner.RunAsync(tree.Root, TrialFilter.All, executor, TrialJobs.InProcess, stop: stop, rerun: rerun);
    }

    private static List<LedgerEntry> Ledger(string path) => Kiln.Kernel.Ledger.ReadAll(path);

    private static string LastLr(string trial) =>
        File.ReadAllLines(Path.Combine(trial, TrialPaths.BatchLog)).Last(l => l.Contains(",train,", StringComparison.Ordinal)).Split(',')[5];

    [Fact]
    public async Task A_restarted_trial_replays_what_its_interrupted_attempt_applied_then_is_steerable_again()
    {
        using var tree = new Tree().Cfg("sweep", Small + "max_steps: 1000000000\n").Cfg("sweep/synthetic/mlp/adam", "lr: 0.001\n");
        var dir = tree.Trial("sweep/synthetic/mlp/adam/trial_000");
        using var stop = new CancellationTokenSource();
        var steer = Task.Run(async () =>
        {
            await Kiln.Testing.Wait.UntilAsync(() => File.Exists(Path.Combine(dir, RunFiles.Metrics)), "the trial to train");
            var cid = new RunControl(dir).SetParams("opt", null, KeyValueParser.Parse(["lr=0.0005"])).Cid;
            await Kiln.Testing.Wait.UntilAsync(() => File.Exists(Path.Combine(dir, RunFiles.Ledger)) && Ledger(Path.Combine(dir, RunFiles.Ledger)).Any(l => l.Cid == cid), "the change to be applied");
            await stop.CancelAsync();
        });
        var first = await RunAsync(tree, stop.Token);
        await steer;
        Assert.Equal(1, first.Stopped);
        var applied = Ledger(Path.Combine(dir, RunFiles.Ledger)).Single(l => l.Module == "opt" && l.Decision == Decision.Applied);

        // The second attempt runs to the end; the first one's change comes back at its step.
        tree.Cfg("sweep", Small + "max_steps: " + (applied.Step + 40) + "\n");
        var second = await RunAsync(tree);
        Assert.Equal(1, second.Completed);
        var archived = Path.Combine(dir, "attempts", "1");
        Assert.True(File.Exists(Path.Combine(archived, RunFiles.Ledger)));
        Assert.True(File.Exists(Path.Combine(archived, RunFiles.Metrics)));
        Assert.Equal(RunInfo.Stopped, Kiln.Runs.RunState.Read(archived)!.Status);
        var ledger = Ledger(Path.Combine(dir, RunFiles.Ledger));
        var replayed = Assert.Single(ledger, l => l.Module == "opt" && l.Source == Sources.Replay);
        Assert.Equal((applied.Step, applied.Event, Decision.Applied), (replayed.Step, replayed.Event, replayed.Decision));
        Assert.Contains(ledger, l => l.Module == "core" && l.Op == "unfreeze" && l.Step == applied.Step);
        Assert.False(File.Exists(Path.Combine(dir, RunFiles.Freeze)));
        Assert.Equal("0.0005", LastLr(dir));
    }

    [Fact]
    public async Task Complete_trials_run_again_from_scratch_only_when_asked()
    {
        using var tree = new Tree().Cfg("sweep", Small + "max_steps: 12\n").Cfg("sweep/synthetic/mlp/adam", "lr: [0.001, 0.002]\n");
        Assert.Equal(2, (await RunAsync(tree)).Completed);
        var (a, b) = (tree.Trial("sweep/synthetic/mlp/adam/trial_000"), tree.Trial("sweep/synthetic/mlp/adam/trial_001"));

        tree.Cfg("sweep/synthetic/mlp/adam", "lr: [0.004, 0.002]\n");
        var unchanged = await RunAsync(tree);
        Assert.Empty(unchanged.Outcomes);
        Assert.Equal(2, unchanged.AlreadyComplete);

        var rerun = await RunAsync(tree, rerun: t => TrialState.IsStale(t.Dir, TreeExpander.Hash(TreeExpander.Render(t))));
        Assert.Equal(["sweep/synthetic/mlp/adam/trial_000"], rerun.Outcomes.Select(o => o.Trial.Name));
        Assert.Equal("0.004", LastLr(a));
        Assert.Equal("0.001", File.ReadAllLines(Path.Combine(a, "attempts", "1", TrialPaths.BatchLog))[1].Split(',')[5]);
        // A rerun starts clean: nothing of the earlier attempt is replayed into it.
        Assert.False(File.Exists(Path.Combine(a, "attempts", "1", RunFiles.Recipe)));
        Assert.False(Directory.Exists(Path.Combine(b, "attempts")));
    }
}
