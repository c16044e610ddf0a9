using System.Text.Json.Nodes;
using Kiln.Control;
using Kiln.IO;
using Kiln.Protocol;
using Kiln.Trials.Expansion;
using Kiln.Trials.Running;

namespace Kiln.Trials.Tests;

/// <summary>Running trials in this process: completion, failure isolation, command trials, resumption, steering.</summary>
public sealed class RunnerTests
{
    private const string Small = "seed: 0\ndataset: synthetic\nmodel: {type: mlp, hidden: [16]}\nepochs: 1\nbatch_size: 64\nmax_steps: 12\n";

    private static RunSummary Run(Tree tree, int jobs = 2, TrialFilter? filter = null, CancellationToken stop = default) =>
        RunAsync(tree, jobs, filter, stop).GetAwaiter().GetResult();

    private static async Task<RunSummary> RunAsync(Tree tree, int jobs = 2, TrialFilter? filter = null, CancellationToken stop = default)
    {
        await using var executor = TrialJobs.InProcessExecutor(tree.Root, jobs);
        return await TrialRunner.RunAsync(tree.Root, filter ?? TrialFilter.All, executor, TrialJobs.InProcess, stop: stop);
    }

    [Fact]
    public void Trials_train_and_write_batch_logs_with_the_seed_columns()
    {
        using var tree = new Tree().Cfg("sweep", Small + "batch_metrics: [param_norm, step_ms]\n").Cfg("sweep/synthetic/mlp/adam", "lr: [0.001, 0.01]\n");
        var summary = Run(tree);
        Assert.True(summary.Succeeded, string.Join("; ", summary.Outcomes.Select(o => o.Error)));
        Assert.Equal(2, summary.Completed);
        var dir = tree.Trial("sweep/synthetic/mlp/adam/trial_001");
        var lines = File.ReadAllLines(Path.Combine(dir, TrialPaths.BatchLog));
        Assert.Equal("epoch,mode,batch,loss,acc,lr,grad_norm,time,param_norm,step_ms", lines[0]);
        var train = lines.Skip(1).Where(l => l.Split(',')[1] == "train").ToList();
        var val = lines.Skip(1).Where(l => l.Split(',')[1] == "val").ToList();
        Assert.Equal(12, train.Count);
        Assert.Equal(Enumerable.Range(0, 12).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), train.Select(l => l.Split(',')[2]));
        Assert.Equal(0.01, double.Parse(train[0].Split(',')[5], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(2000 / 64 + 1, val.Count);
        Assert.Equal("", val[0].Split(',')[6]);

        var info = TrialState.Info(dir)!;
        Assert.Equal(("trial", RunInfo.Completed, 0L), (info.Kind, info.Status, info.Seed!.Value));
        Assert.Equal(TreeExpander.Hash(File.ReadAllText(Path.Combine(dir, "cfg.yaml"))), (string?)info.Params!["cfg_sha256"]);
        Assert.True(info.Metrics!.ContainsKey("val_accuracy"));
        Assert.True(File.Exists(Path.Combine(dir, RunFiles.Metrics)));
    }

    [Fact]
    public void A_failing_trial_is_recorded_with_its_cause_and_the_others_go_on()
    {
        using var tree = new Tree().Cfg("sweep", Small)
            .Cfg("sweep/synthetic/mlp/adam", "lr: [0.001, 0.002]\n")
            .Cfg("sweep/synthetic/mlp/bad", "learning_rate: 0.1\n");
        var summary = Run(tree, jobs: 1);
        Assert.Equal(2, summary.Completed);
        var failed = Assert.Single(summary.Outcomes, o => o.Status == TrialStatus.Failed);
        Assert.Contains("cfg.yaml: learning_rate: unknown key", failed.Error);
        Assert.Equal(TrialStatus.Failed, TrialState.Of(failed.Trial.Dir));
        Assert.False(summary.Succeeded);
    }

    [Fact]
    public void Command_trials_run_their_own_program_and_must_write_the_batch_log()
    {
        using var tree = new Tree().Cfg("sweep", "seed: 4\n")
            .Cfg("sweep/any/prog/ok", "command: 'printf \"epoch,mode,loss\\n0,train,$KILN_SEED\\n\" > \"$KILN_RUN_DIR/batch_log.csv\"; echo $KILN_MODE/$KILN_DATASET > \"$KILN_RUN_DIR/where.txt\"'\n")
            .Cfg("sweep/any/prog/crash", "command: 'echo dying >&2; exit 3'\n")
            .Cfg("sweep/any/prog/silent", "command: 'true'\n");
        var summary = Run(tree);
        var ok = tree.Trial("sweep/any/prog/ok/trial_000");
        Assert.Equal("epoch,mode,loss\n0,train,4\n", File.ReadAllText(Path.Combine(ok, TrialPaths.BatchLog)));
        Assert.Equal("sweep/any\n", File.ReadAllText(Path.Combine(ok, "where.txt")));
        Assert.Equal(TrialStatus.Complete, TrialState.Of(ok));
        Assert.Contains("command exited with code 3", TrialState.Info(tree.Trial("sweep/any/prog/crash/trial_000"))!.Error);
        Assert.Contains("wrote no batch_log.csv", TrialState.Info(tree.Trial("sweep/any/prog/silent/trial_000"))!.Error);
        Assert.Equal((1, 2), (summary.Completed, summary.Failed));
    }

    [Fact]
    public void A_command_trial_that_writes_only_its_batch_log_gets_per_epoch_metrics_and_final_values_from_it()
    {
        const string Log = "epoch,mode,batch,loss,acc\n1,train,0,2.0,0.2\n1,train,1,1.0,0.4\n1,val,0,1.5,0.5\n2,train,0,0.8,0.6\n2,train,1,0.6,0.8\n2,val,0,0.9,0.75\n";
        using var tree = new Tree().Cfg("sweep", "seed: 1\n")
            .Cfg("sweep/any/prog/own", $"command: 'printf \"{Log.Replace("\n", "\\n", StringComparison.Ordinal)}\" > \"$KILN_RUN_DIR/batch_log.csv\"'\n");
        var summary = Run(tree);
        Assert.Equal(1, summary.Completed);
        var dir = tree.Trial("sweep/any/prog/own/trial_000");
        var lines = File.ReadAllLines(Path.Combine(dir, RunFiles.Metrics)).Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)!).ToList();
        Assert.Equal(4, lines.Count);
        var val2 = lines.Single(l => (string)l["phase"]! == "val" && (long)l["step"]! == 2);
        Assert.Equal((0.9, 0.75), ((double)val2["metrics"]!["val_loss"]!, (double)val2["metrics"]!["val_acc"]!));
        var train1 = lines.Single(l => (string)l["phase"]! == "train" && (long)l["step"]! == 1);
        Assert.Equal((1.5, 0.3), ((double)train1["metrics"]!["train_loss"]!, (double)train1["metrics"]!["train_acc"]!), new Tolerance());
        var final = TrialState.Info(dir)!.Metrics!;
        Assert.Equal((0.9, 0.75, 0.7), ((double)final["val_loss"]!, (double)final["val_acc"]!, (double)final["train_loss"]!), new Tolerance());
    }

    private sealed class Tolerance : IEqualityComparer<(double, double)>, IEqualityComparer<(double, double, double)>
    {
        private static bool Near(double a, double b) => Math.Abs(a - b) < 1e-9;
        public bool Equals((double, double) x, (double, double) y) => Near(x.Item1, y.Item1) && Near(x.Item2, y.Item2);
        public int GetHashCode((double, double) obj) => 0;
        public bool Equals((double, double, double) x, (double, double, double) y) => Near(x.Item1, y.Item1) && Near(x.Item2, y.Item2) && Near(x.Item3, y.Item3);
        public int GetHashCode((double, double, double) obj) => 0;
    }

    [Fact]
    public void A_re_run_resumes_what_is_not_complete_and_keeps_what_an_interrupted_attempt_left()
    {
        using var tree = new Tree().Cfg("sweep", Small).Cfg("sweep/synthetic/mlp/sgd", "lr: [0.1, 0.2, 0.3]\n");
        tree.Expand();
        // trial_000 finished earlier; trial_001 was running when its runner was killed.
        var done = tree.Trial("sweep/synthetic/mlp/sgd/trial_000");
        File.WriteAllText(Path.Combine(done, TrialPaths.BatchLog), "epoch,mode,batch,loss\n");
        var killed = tree.Trial("sweep/synthetic/mlp/sgd/trial_001");
        File.WriteAllText(Path.Combine(killed, RunFiles.Metrics), """{"step":0,"epoch":0,"phase":"train","wall_time":1,"metrics":{"train_loss":2}}""" + "\n");
        AtomicFile.WriteJson(Path.Combine(killed, RunFiles.Run), new RunInfo { Id = "x", Kind = "trial", Status = RunInfo.Running, Pid = int.MaxValue - 1 }.ToJson());
        Assert.Equal(TrialStatus.Pending, TrialState.Of(killed));

        var summary = Run(tree);
        Assert.Equal((1, 2), (summary.AlreadyComplete, summary.Completed));
        Assert.Equal("epoch,mode,batch,loss\n", File.ReadAllText(Path.Combine(done, TrialPaths.BatchLog)));
        Assert.True(File.Exists(Path.Combine(killed, "attempts", "1", RunFiles.Metrics)));
        Assert.Equal(TrialStatus.Complete, TrialState.Of(killed));
        Assert.Empty(Run(tree).Outcomes);
    }

    [Fact]
    public async Task Stopping_leaves_trials_incomplete_and_the_next_run_finishes_them()
    {
        using var tree = new Tree().Cfg("sweep", Small.Replace("max_steps: 12", "max_steps: 1000000000", StringComparison.Ordinal).Replace("epochs: 1", "epochs: 10000000", StringComparison.Ordinal))
            .Cfg("sweep/synthetic/mlp/adam", "lr: [0.001, 0.002, 0.003]\n");
        // Far more steps than the test could wait for: the first trial can only end by being stopped.
        using var stop = new CancellationTokenSource();
        var first = tree.Trial("sweep/synthetic/mlp/adam/trial_000");
        var watcher = Task.Run(async () =>
        {
            for (var i = 0; i < 3000 && !File.Exists(Path.Combine(first, RunFiles.Metrics)); i++) await Task.Delay(20);
            await stop.CancelAsync();
        });
        var summary = await RunAsync(tree, jobs: 1, stop: stop.Token);
        await watcher;
        Assert.Equal(0, summary.Completed);
        Assert.Equal(1, summary.Stopped);
        Assert.Equal(RunInfo.Stopped, TrialState.Info(first)!.Status);
        Assert.False(TrialState.IsComplete(first));
        Assert.Equal(TrialStatus.Pending, TrialState.Of(tree.Trial("sweep/synthetic/mlp/adam/trial_001")));
    }

    [Fact]
    public async Task A_running_trial_is_a_run_directory_steerable_from_outside()
    {
        using var tree = new Tree().Cfg("sweep", Small.Replace("max_steps: 12", "max_steps: 30000", StringComparison.Ordinal).Replace("epochs: 1", "epochs: 1000", StringComparison.Ordinal))
            .Cfg("sweep/synthetic/mlp/adam", "lr: 0.001\n");
        var dir = tree.Trial("sweep/synthetic/mlp/adam/trial_000");
        string? cid = null;
        var steer = Task.Run(async () =>
        {
            for (var i = 0; i < 6000 && !File.Exists(Path.Combine(dir, RunFiles.Metrics)); i++) await Task.Delay(10);
            cid = new RunControl(dir).SetParams("opt", null, KeyValueParser.Parse(["lr=0.0005"])).Cid;
        });
        var summary = await RunAsync(tree, jobs: 1);
        await steer;
        Assert.Equal(1, summary.Completed);
        var applied = Assert.Single(Kiln.Kernel.Ledger.ReadAll(Path.Combine(dir, RunFiles.Ledger)), l => l.Cid == cid);
        Assert.Equal(Decision.Applied, applied.Decision);
        var lastLr = File.ReadAllLines(Path.Combine(dir, TrialPaths.BatchLog)).Last(l => l.Contains(",train,", StringComparison.Ordinal)).Split(',')[5];
        Assert.Equal("0.0005", lastLr);
    }

    [Fact]
    public void Run_trials_mirrors_the_seed_with_dataset_and_mode_filters()
    {
        using var tree = new Tree().Cfg("", Small)
            .Cfg("sweep/synthetic/mlp/adam", "lr: 0.001\n")
            .Cfg("sweep/other/mlp/adam", "dataset: synthetic\n")
            .Cfg("experiment/synthetic/mlp/adam", "seed: [1, 2]\n");
        var summary = TrialRunner.RunTrials(tree.Root, datasets: ["synthetic"], modes: ["sweep"]);
        Assert.Equal(1, summary.Completed);
        Assert.False(Directory.Exists(tree.Trial("sweep/other")));
        Assert.False(Directory.Exists(tree.Trial("experiment")));
    }

    [Fact]
    public void Bad_trainer_settings_name_the_key()
    {
        var cfg = (JsonObject)JsonNode.Parse("""{"seed":0,"lr":-1}""")!;
        Assert.Contains("cfg.yaml: lr: must be > 0", Assert.Throws<ProtocolException>(() => CfgTrainer.Read(cfg, "synthetic", "mlp", "adam")).Message);
        Assert.Contains("unknown dataset \"imagenet\"", Assert.Throws<ProtocolException>(() => CfgTrainer.Read(new JsonObject(), "imagenet", "mlp", "adam")).Message);
        Assert.Contains("unknown trainer \"lbfgs\"", Assert.Throws<ProtocolException>(() => CfgTrainer.Read(new JsonObject(), "synthetic", "mlp", "lbfgs")).Message);
        Assert.Contains("unknown metric \"iter_budget\"", Assert.Throws<ProtocolException>(() => CfgTrainer.Read((JsonObject)JsonNode.Parse("""{"batch_metrics":["iter_budget"]}""")!, "synthetic", "mlp", "adam")).Message);
        var ok = CfgTrainer.Read((JsonObject)JsonNode.Parse("""{"_note":"anything","model":{"type":"cnn","channels":[4,8],"hidden":[32]},"schedule":{"type":"cosine","total_steps":100}}""")!, "fmnist", "x", "sgd");
        Assert.Equal(("fashion_mnist", "cnn", "sgd", 32), (ok.Dataset, ok.Model, ok.Optimizer, ok.Hidden[0]));
    }
}
