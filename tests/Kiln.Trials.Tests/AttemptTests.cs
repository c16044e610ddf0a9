using Kiln.Control;
using Kiln.Protocol;
using Kiln.Trials.Expansion;
using Kiln.Trials.Running;

namespace Kiln.Trials.Tests;

/// <summary>Trials started over: an interrupted attempt resumes from its checkpoint, a finished one reruns from scratch.</summary>
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
    public async Task An_interrupted_trial_resumes_from_its_checkpoint_with_its_change_applied_once()
    {
        using var tree = new Tree().Cfg("sweep", Small + "max_steps: 1000000000\n").Cfg("sweep/synthetic/mlp/adam", "lr: 0.001\n");
        var dir = tree.Trial("sweep/synthetic/mlp/adam/trial_000");
        using var stop = new CancellationTokenSource();
        string? cid = null;
        var steer = Task.Run(async () =>
        {
            await Kiln.Testing.Wait.UntilAsync(() => File.Exists(Path.Combine(dir, RunFiles.Metrics)), "the trial to train");
            cid = new RunControl(dir).SetParams("opt", null, KeyValueParser.Parse(["lr=0.0005"])).Cid;
            await Kiln.Testing.Wait.UntilAsync(() => File.Exists(Path.Combine(dir, RunFiles.Ledger)) && Ledger(Path.Combine(dir, RunFiles.Ledger)).Any(l => l.Cid == cid), "the change to be applied");
            await stop.CancelAsync();
        });
        var first = await RunAsync(tree, stop.Token);
        await steer;
        Assert.Equal(1, first.Stopped);
        var checkpoint = Kiln.Runs.RunCheckpoint.Read(dir)!;

        // The second attempt goes on from the checkpoint: nothing is archived, the change is not applied again, and
        // the lr it set is the lr the trial ends with.
        tree.Cfg("sweep", Small + "max_steps: " + (checkpoint.Step + 40) + "\n");
        var second = await RunAsync(tree);
        Assert.Equal(1, second.Completed);
        Assert.False(Directory.Exists(Path.Combine(dir, "attempts")));
        Assert.Single(Ledger(Path.Combine(dir, RunFiles.Ledger)), l => l.Cid == cid);
        Assert.Equal("0.0005", LastLr(dir));
        var rows = File.ReadAllLines(Path.Combine(dir, TrialPaths.BatchLog)).Count(l => l.Contains(",train,", StringComparison.Ordinal));
        Assert.Equal(checkpoint.Step + 40, rows);
    }

    [Fact]
    public async Task A_trial_stopped_at_a_random_step_and_resumed_logs_what_the_uninterrupted_trial_logs()
    {
        const string cfg = Small + "max_steps: 400\n";
        using var whole = new Tree().Cfg("sweep", cfg).Cfg("sweep/synthetic/mlp/adam", "lr: 0.001\n");
        Assert.Equal(1, (await RunAsync(whole)).Completed);
        using var parts = new Tree().Cfg("sweep", cfg).Cfg("sweep/synthetic/mlp/adam", "lr: 0.001\n");
        var dir = parts.Trial("sweep/synthetic/mlp/adam/trial_000");
        var at = Random.Shared.Next(5, 300);
        using var stop = new CancellationTokenSource();
        var stopper = Task.Run(async () =>
        {
            await Kiln.Testing.Wait.UntilAsync(() => File.Exists(Path.Combine(dir, RunFiles.Metrics)) && File.ReadLines(Path.Combine(dir, RunFiles.Metrics)).Count() > at, $"step {at}");
            await stop.CancelAsync();
        });
        var first = await RunAsync(parts, stop.Token);
        await stopper;
        if (first.Stopped == 0) return; // finished before the stop: nothing to resume (the trial is shorter than the wait)
        Assert.True(Kiln.Runs.RunCheckpoint.Exists(dir));
        Assert.Equal(1, (await RunAsync(parts)).Completed);
        // Every column but the wall time.
        static List<string> Rows(string trial) => File.ReadAllLines(Path.Combine(trial, TrialPaths.BatchLog)).Select(l => string.Join(',', l.Split(',')[..^1])).ToList();
        Assert.Equal(Rows(whole.Trial("sweep/synthetic/mlp/adam/trial_000")), Rows(dir));
        Assert.Equal(File.ReadAllBytes(Path.Combine(whole.Trial("sweep/synthetic/mlp/adam/trial_000"), "model.safetensors")), File.ReadAllBytes(Path.Combine(dir, "model.safetensors")));
    }

    [Fact]
    public async Task A_trial_that_died_between_periodic_checkpoints_resumes_from_the_last_one_into_the_uninterrupted_trial()
    {
        const string cfg = Small + "max_steps: 120\ncheckpoint_every: 25\n";
        using var whole = new Tree().Cfg("sweep", cfg).Cfg("sweep/synthetic/mlp/adam", "lr: 0.001\n");
        Assert.Equal(1, (await RunAsync(whole)).Completed);
        using var parts = new Tree().Cfg("sweep", cfg).Cfg("sweep/synthetic/mlp/adam", "lr: 0.001\n");
        parts.Expand();
        var dir = parts.Trial("sweep/synthetic/mlp/adam/trial_000");
        // Dies at step 60 without a word (as under SIGKILL, no checkpoint on the way out): the last one is step 50's.
        var died = TrialWorker.Run(parts.Root, dir, progress: (step, _) => { if (step == 60) throw new InvalidOperationException("node lost"); });
        Assert.Equal(RunInfo.Failed, died.Status);
        Assert.Equal(50, Kiln.Runs.RunCheckpoint.Read(dir)!.Step);

        Assert.Equal(1, (await RunAsync(parts)).Completed);
        Assert.False(Directory.Exists(Path.Combine(dir, "attempts")));
        static List<string> Rows(string trial) => File.ReadAllLines(Path.Combine(trial, TrialPaths.BatchLog)).Select(l => string.Join(',', l.Split(',')[..^1])).ToList();
        Assert.Equal(Rows(whole.Trial("sweep/synthetic/mlp/adam/trial_000")), Rows(dir));
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
