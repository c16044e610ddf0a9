using System.Text.Json.Nodes;
using Kiln.Testing;

namespace Kiln.Cli.Tests;

/// <summary><c>kiln trials run --executor slurm</c>, <c>status</c> and <c>cancel</c> on the real single-node cluster (scripts/slurm-up.sh).</summary>
[Collection(SlurmClusterCollection.Name)]
public sealed class SlurmTrialsCliTests
{
    private static string? SlurmState(JsonNode? trial) => (string?)trial!["slurm"]?["state"];

    [SlurmFact]
    public async Task Trials_are_submitted_and_the_command_returns_then_any_later_status_shows_Slurm_beside_Kiln()
    {
        using var dir = new TempDir("slurm-trials");
        CfgTree.Write(dir.Path, "", "seed: 0\nepochs: 1\nbatch_size: 50\nmax_steps: 20\nmodel: {type: mlp, hidden: [8]}\n");
        CfgTree.Write(dir.Path, "sweep/synthetic/mlp/adam", "lr: [0.001, 0.01]\n");

        var run = KilnProcess.Run(dir.Path, "trials", "run", "--executor", "slurm");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("2 trials to submit, 0 already complete", run.Stdout);
        Assert.Matches(@"submitted 2 trials as Slurm job array \d+; record: \.kiln/jobs/", run.Stdout);
        Assert.Matches(@"\d+_1  sweep/synthetic/mlp/adam/trial_001", run.Stdout);
        Assert.Single(Directory.GetFiles(Path.Combine(dir.Path, ".kiln", "jobs"), "submission.json", SearchOption.AllDirectories));

        var done = await Wait.UntilAsync(() => Task.FromResult(CfgTree.Status(dir.Path)), t => t.All(x => SlurmState(x) == "COMPLETED"), "both trials to complete on Slurm", 180, 500);
        Assert.All(done, t => Assert.Equal("complete", (string?)t!["status"]));
        Assert.All(done, t => Assert.True((double)t!["metrics"]!["val_accuracy"]! > 0));
        var table = KilnProcess.Run(dir.Path, "trials", "status");
        Assert.Matches(@"trial_000\s.*complete\s.*\d+_0 COMPLETED", table.Stdout);
        Assert.True(File.Exists(Path.Combine(dir.Path, "out/log/sweep/synthetic/mlp/adam/trial_000/stdout.log")), "the task's log is in its trial directory");

        var again = KilnProcess.Run(dir.Path, "trials", "run", "--executor", "slurm");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains("0 trials to submit, 2 already complete", again.Stdout);
    }

    [SlurmFact]
    public async Task A_trial_running_on_the_cluster_is_steered_through_its_run_directory_then_cancelled_and_not_submitted_twice()
    {
        using var dir = new TempDir("slurm-cancel");
        // Long enough to be steered and cancelled: it never ends by itself within the test.
        CfgTree.Write(dir.Path, "", "seed: 0\nepochs: 1000\nbatch_size: 10\nmodel: {type: mlp, hidden: [8]}\n");
        CfgTree.Write(dir.Path, "sweep/synthetic/mlp/adam", "lr: 0.001\n");
        var run = KilnProcess.Run(dir.Path, "trials", "run", "--executor", "slurm");
        Assert.True(run.ExitCode == 0, run.ToString());
        try
        {
            await SteerThenCancel(dir.Path);
        }
        finally
        {
            // A failed assertion leaves no task behind on the cluster.
            KilnProcess.Run(dir.Path, "trials", "cancel");
        }
    }

    private static async Task SteerThenCancel(string root)
    {
        var trialDir = Path.Combine(root, "out/log/sweep/synthetic/mlp/adam/trial_000");
        await Wait.UntilAsync(() => Task.FromResult(CfgTree.Status(root)), t => SlurmState(t[0]) == "RUNNING" && (string?)t[0]!["status"] == "running",
            "the trial to run", 120, 300);

        // Steering: the run directory is the only channel between this shell and the compute node.
        var set = KilnProcess.Run(root, "--dir", trialDir, "set", "lr=0.02", "--wait", "60");
        Assert.True(set.ExitCode == 0, set.ToString());
        Assert.True(set.Stdout.Contains("applied", StringComparison.Ordinal), set.ToString());

        // Queued or running on the cluster: a second run does not submit it again.
        var again = KilnProcess.Run(root, "trials", "run", "--executor", "slurm");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains("0 trials to submit, 0 already complete, 1 queued or running already", again.Stdout);

        var cancel = KilnProcess.Run(root, "trials", "cancel");
        Assert.True(cancel.ExitCode == 0, cancel.ToString());
        Assert.Matches(@"\d+_0  sweep/synthetic/mlp/adam/trial_000 \(was RUNNING\)", cancel.Stdout);
        Assert.Contains("cancelled 1 Slurm task", cancel.Stdout);
        var ended = await Wait.UntilAsync(() => Task.FromResult(CfgTree.Status(root)), t => SlurmState(t[0]) == "CANCELLED" && (string?)t[0]!["status"] != "running",
            "the cancelled trial to end", 120, 300);
        Assert.Equal("pending", (string?)ended[0]!["status"]);
        Assert.Equal("no queued or running Slurm task among these trials", KilnProcess.Run(root, "trials", "cancel").Stdout.Trim());
    }

    [SlurmFact]
    public void The_executor_section_of_kiln_json_reaches_sbatch_and_a_bad_one_is_one_clear_error()
    {
        using var dir = new TempDir("slurm-config");
        CfgTree.Write(dir.Path, "", "seed: 0\nepochs: 1\nmax_steps: 5\nmodel: {type: mlp, hidden: [4]}\n");
        CfgTree.Write(dir.Path, "sweep/synthetic/mlp/adam", "lr: 0.001\n");
        File.WriteAllText(Path.Combine(dir.Path, "kiln.json"), """{"name": "w", "executor": {"kind": "slurm", "partition": "no-such-partition"}}""");
        var refused = KilnProcess.Run(dir.Path, "trials", "run");
        Assert.Equal(1, refused.ExitCode);
        Assert.Matches("kiln: error: sbatch .*exited with code 1: .*[Pp]artition", refused.Stderr);

        File.WriteAllText(Path.Combine(dir.Path, "kiln.json"), """{"name": "w", "executor": {"kind": "slurm", "throttle": 0}}""");
        var bad = KilnProcess.Run(dir.Path, "trials", "run");
        Assert.Equal(1, bad.ExitCode);
        Assert.Equal($"kiln: error: {Path.Combine(dir.Path, "kiln.json")}: executor.throttle: must be an integer from 1 to 2147483647, got 0", bad.Stderr.Trim());

        var usage = KilnProcess.Run(dir.Path, "trials", "run", "--executor", "cloud");
        Assert.Equal(2, usage.ExitCode);
        Assert.Contains("--executor: unknown executor 'cloud' (known: local, slurm)", usage.Stderr);
    }

    [SlurmFact]
    public void With_wait_the_run_follows_its_trials_to_the_end()
    {
        using var dir = new TempDir("slurm-wait");
        CfgTree.Write(dir.Path, "", "seed: 0\nepochs: 1\nbatch_size: 50\nmax_steps: 10\nmodel: {type: mlp, hidden: [4]}\n");
        CfgTree.Write(dir.Path, "sweep/synthetic/mlp/adam", "lr: 0.001\n");
        var run = KilnProcess.Run(dir.Path, TimeSpan.FromSeconds(180), null, "trials", "run", "--executor", "slurm", "--wait");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Matches(@"sweep/synthetic/mlp/adam/trial_000 complete in [\d.]+ s", run.Stdout);
        Assert.Contains("1 completed, 0 failed, 0 stopped, 0 already complete", run.Stdout);
    }
}
