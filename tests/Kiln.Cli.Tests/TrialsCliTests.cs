using System.Text.Json.Nodes;
using Kiln.Testing;

namespace Kiln.Cli.Tests;

/// <summary><c>kiln trials</c> with real worker processes.</summary>
public sealed class TrialsCliTests
{
    [Fact]
    public void Expand_run_status_and_epochs_from_the_command_line()
    {
        using var dir = new TempDir("trials");
        CfgTree.Write(dir.Path, "", "seed: 0\nepochs: 2\nbatch_size: 100\nmax_steps: 150\nmodel: {type: mlp, hidden: [16]}\n");
        CfgTree.Write(dir.Path, "sweep/synthetic/mlp/adam", "lr: [0.001, 0.01]\n");
        CfgTree.Write(dir.Path, "sweep/synthetic/mlp/sgd", "lr: 0.001\nbatch_size: 0\n");

        // The sgd leaf's batch size is told at once; its trial is written all the same, and fails alone when run.
        var expand = KilnProcess.Run(dir.Path, "trials", "expand");
        Assert.True(expand.ExitCode == 1, expand.ToString());
        Assert.Contains("cfg/sweep/synthetic/mlp/adam/cfg.yaml: 2 trials (axes lr[2]), 2 written, 0 unchanged", expand.Stdout);
        Assert.Contains("out/log/sweep/synthetic/mlp/sgd/trial_000/cfg.yaml: batch_size: must be a whole number >= 1, got 0", expand.Stderr);

        var run = KilnProcess.Run(dir.Path, "--dir", dir.Path, "trials", "run", "--jobs", "2");
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("3 trials to run, 0 already complete", run.Stdout);
        Assert.Contains("2 completed, 1 failed, 0 stopped, 0 already complete", run.Stdout);
        Assert.Matches(@"sweep/synthetic/mlp/sgd/trial_000 failed in [\d.]+ s: out/log/sweep/synthetic/mlp/sgd/trial_000/cfg.yaml: batch_size: must be a whole number >= 1, got 0", run.Stdout);

        var status = KilnProcess.Run(dir.Path, "trials", "status", "--json");
        var trials = JsonNode.Parse(status.Stdout)!["trials"]!.AsArray();
        Assert.Equal(["complete", "complete", "failed"], trials.Select(t => (string?)t!["status"]));
        Assert.Equal(0.01, (double)trials[1]!["swept"]!["lr"]!);
        Assert.True((double)trials[0]!["metrics"]!["val_accuracy"]! > 0);

        var trial = Path.Combine(dir.Path, "out", "log", "sweep", "synthetic", "mlp", "adam", "trial_001");
        Assert.True(File.Exists(Path.Combine(trial, "stderr.log")));
        var epochs = KilnProcess.Run(dir.Path, "trials", "epochs", trial, "--json");
        Assert.True(epochs.ExitCode == 0, epochs.ToString());
        var rows = JsonNode.Parse(epochs.Stdout)!["rows"]!.AsArray();
        Assert.Equal(["0/train", "0/val", "1/train", "1/val"], rows.Select(r => $"{r!["epoch"]}/{r["mode"]}"));
        Assert.Equal(100, (int)rows[0]!["n_batches"]!);
        Assert.True(File.Exists(Path.Combine(trial, "epoch_log.csv")));

        // A second run only retries what is not complete.
        CfgTree.Write(dir.Path, "sweep/synthetic/mlp/sgd", "lr: 0.001\n");
        var again = KilnProcess.Run(dir.Path, "trials", "run");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains("1 trial to run, 2 already complete", again.Stdout);
    }

    [Fact]
    public void A_command_trial_that_writes_only_its_batch_log_shows_its_metrics_in_status()
    {
        using var dir = new TempDir("trials");
        File.WriteAllText(Path.Combine(dir.Path, "train.sh"),
            "#!/bin/sh\nprintf 'epoch,mode,batch,loss,acc\\n0,train,0,1.2,0.4\\n0,val,0,0.9,0.6\\n1,train,0,0.7,0.7\\n1,val,0,0.5,0.8\\n' > \"$KILN_RUN_DIR/batch_log.csv\"\n");
        CfgTree.Write(dir.Path, "", "seed: 0\n");
        CfgTree.Write(dir.Path, "sweep/any/prog/own", "command: sh train.sh\n");

        var run = KilnProcess.Run(dir.Path, "trials", "run");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Matches(@"sweep/any/prog/own/trial_000 complete in [\d.]+ s  val_loss=0.5  val_accuracy=0.8", run.Stdout);

        var status = KilnProcess.Run(dir.Path, "trials", "status");
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Matches(@"sweep/any/prog/own/trial_000\s.*complete.*0\.5\s.*0\.8", status.Stdout);
        var json = JsonNode.Parse(KilnProcess.Run(dir.Path, "trials", "status", "--json").Stdout)!["trials"]![0]!["metrics"]!;
        Assert.Equal((0.5, 0.8, 0.7), ((double)json["val_loss"]!, (double)json["val_acc"]!, (double)json["train_loss"]!));
    }

    [Fact]
    public void Rule_errors_fail_expansion_with_the_file_and_key()
    {
        using var dir = new TempDir("trials");
        CfgTree.Write(dir.Path, "experiment/d/m/t", "seed: 0\nlr: [1, 2]\n");
        var result = KilnProcess.Run(dir.Path, "trials", "expand");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("kiln: error: cfg/experiment/d/m/t/cfg.yaml: lr: experiment mode sweeps only the seed", result.Stderr);
        var none = KilnProcess.Run(Path.Combine(dir.Path, "cfg"), "trials", "run");
        Assert.Equal(1, none.ExitCode);
        Assert.Contains("no cfg/ tree here", none.Stderr);
    }

    [Fact]
    public void Expand_reports_keys_the_built_in_trainer_does_not_read_and_run_names_what_it_cannot_force()
    {
        using var dir = new TempDir("trials");
        CfgTree.Write(dir.Path, "", "seed: 0\nmax_steps: 5\nmodel: {type: mlp, hidden: [8]}\n");
        CfgTree.Write(dir.Path, "sweep/synthetic/mlp/adam", "learning_rate: [0.1, 0.2]\n");
        CfgTree.Write(dir.Path, "sweep/synthetic/mlp/own", "command: ./train.sh\nanything: 1\n");
        var expand = KilnProcess.Run(dir.Path, "trials", "expand");
        Assert.Equal(1, expand.ExitCode);
        Assert.Contains("learning_rate: unknown key", expand.Stderr);
        // Said once for the leaf, not for each of its trials; a command: trial's keys are its own business.
        Assert.Single(expand.Stderr.Split('\n'), l => l.Contains("learning_rate", StringComparison.Ordinal));
        Assert.DoesNotContain("anything", expand.Stderr);

        var force = KilnProcess.Run(dir.Path, "trials", "run", "--force", "sweep/synthetic/mlp/adam/trial_009");
        Assert.Equal(2, force.ExitCode);
        Assert.Contains("--force sweep/synthetic/mlp/adam/trial_009: no such trial", force.Stderr);
    }

    [Fact]
    public void Expand_refuses_an_alias_bomb_and_a_recursive_alias_naming_the_file_and_line()
    {
        using var dir = new TempDir("trials");
        CfgTree.Write(dir.Path, "sweep/d/m/bomb", "seed: 0\n" + YamlProbes.BillionLaughs);
        CfgTree.Write(dir.Path, "sweep/d/m/loop", "seed: 0\nx: &a [1, *a]\n");
        CfgTree.Write(dir.Path, "sweep/d/m/ok", "seed: 0\nlr: [0.1, 0.2]\n");
        var result = KilnProcess.Run(dir.Path, TimeSpan.FromSeconds(60), null, "trials", "expand");
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("cfg/sweep/d/m/bomb/cfg.yaml: line 7, column 8: aliases expand to more than 100000 nodes", result.Stderr);
        Assert.Contains("cfg/sweep/d/m/loop/cfg.yaml: line 2, column 11: alias *a refers to the node it is part of", result.Stderr);
        Assert.Contains("cfg/sweep/d/m/ok/cfg.yaml: 2 trials", result.Stdout);
        Assert.DoesNotContain("Unhandled exception", result.Stderr);
    }
}
