using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Kiln.Execution.Slurm;
using Kiln.Testing;

namespace Kiln.Cli.Tests;

/// <summary>
/// Trials preempted on the real single-node cluster (scripts/slurm-up.sh): each is put back in the queue with
/// <c>scontrol requeue</c> twice while it trains, and must resume from its checkpoint each time and end exactly as the
/// same trial run without interruption. (The 20-trial version is <c>bench/Kiln.Bench -- slurm-requeue</c>.)
/// </summary>
[Collection(SlurmClusterCollection.Name)]
public sealed partial class SlurmRequeueCliTests
{
    // Far past the last requeue (at step 80): a trial that ends before its requeue lands is requeued once it has
    // completed, and runs again only to find itself done.
    private const int Steps = 600;
    private const string Sweep = "out/log/sweep/synthetic/mlp/adam";

    private static void Workspace(string root)
    {
        CfgTree.Write(root, "", $"seed: 3\nepochs: 1000\nbatch_size: 128\nmax_steps: {Steps}\nmodel: {{type: mlp, hidden: [256, 256]}}\n");
        CfgTree.Write(root, "sweep/synthetic/mlp/adam", "lr: [0.001, 0.003]\n");
    }

    /// <summary>The last train step in the trial's metrics file (-1 before the first).</summary>
    private static long LastStep(string trialDir) =>
        new RunDir(trialDir).MetricLines().Select(l => JsonNode.Parse(l)!).Where(o => (string?)o["phase"] == "train").Select(o => (long)o["step"]!).DefaultIfEmpty(-1).Last();

    [GeneratedRegex(@"^resuming at step (\d+) from ", RegexOptions.Multiline)]
    private static partial Regex Resumed();

    private static List<long> ResumedAt(string trialDir)
    {
        var log = Path.Combine(trialDir, "stderr.log");
        return File.Exists(log) ? Resumed().Matches(File.ReadAllText(log)).Select(m => long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList() : [];
    }

    /// <summary>
    /// Requeues the trial's task once it passed each of <paramref name="targets"/> (each one after it resumed from the
    /// previous requeue); returns the step it had reached at each requeue.
    /// </summary>
    private static async Task<List<long>> Preempt(string trialDir, string slurmId, long[] targets)
    {
        var reached = new List<long>();
        foreach (var target in targets)
        {
            var resumes = reached.Count;
            await Wait.UntilAsync(() => ResumedAt(trialDir).Count >= resumes && LastStep(trialDir) >= target,
                $"{Path.GetFileName(trialDir)} to pass step {target}", 180, 20);
            reached.Add(LastStep(trialDir));
            SlurmCli.Check("scontrol", ["requeue", slurmId]);
        }
        return reached;
    }

    [SlurmFact]
    public async Task Trials_requeued_while_they_train_resume_from_their_checkpoints_and_end_as_if_never_interrupted()
    {
        using var dir = new TempDir("slurm-requeue");
        using var straight = new TempDir("slurm-requeue-local");
        Workspace(dir.Path);
        Workspace(straight.Path);

        var run = KilnProcess.Run(dir.Path, "trials", "run", "--executor", "slurm");
        Assert.True(run.ExitCode == 0, run.ToString());
        try
        {
            var submission = SlurmSubmission.ReadAll(Path.Combine(dir.Path, ".kiln", "jobs")).Single();
            var trials = submission.Tasks.Select(t => (Dir: t.RunDirectory!, Id: submission.SlurmId(t.Index)!)).ToList();
            var reached = await Task.WhenAll(trials.Select(t => Task.Run(() => Preempt(t.Dir, t.Id, [30, 80]))));

            var done = await Wait.UntilAsync(() => Task.FromResult(CfgTree.Status(dir.Path)), all => all.All(x => (string?)x!["slurm"]?["state"] == "COMPLETED"),
                "both trials to complete on Slurm", 300, 500);
            var local = KilnProcess.Run(straight.Path, TimeSpan.FromSeconds(300), null, "trials", "run");
            Assert.True(local.ExitCode == 0, local.ToString());

            for (var i = 0; i < trials.Count; i++)
            {
                var (trialDir, _) = trials[i];
                var name = Path.GetFileName(trialDir);
                var row = done.Single(x => trialDir.EndsWith((string)x!["trial"]!, StringComparison.Ordinal))!;
                Assert.Equal("complete", (string?)row["status"]);
                // Slurm counted both requeues (its completion records), as the dashboard and `trials status` show them.
                Assert.Equal(2, (int?)row["slurm"]!["requeues"]);
                // Each requeued attempt resumed from the checkpoint its interruption wrote, no earlier than the step it had reached.
                var resumed = ResumedAt(trialDir);
                Assert.Equal(2, resumed.Count);
                Assert.All(resumed.Zip(reached[i]), p => Assert.True(p.First >= p.Second, $"{name} resumed at step {p.First} after reaching {p.Second}"));
                var lines = new RunDir(trialDir).MetricLines();
                var steps = lines.Select(l => JsonNode.Parse(l)!).Where(o => (string?)o["phase"] == "train").Select(o => (long)o["step"]!);
                Assert.Equal(Enumerable.Range(0, Steps).Select(s => (long)s), steps);
                Assert.Equal(new RunDir(Path.Combine(straight.Path, Sweep, name)).MetricLines(), lines);
            }
        }
        finally
        {
            // A failed assertion leaves no task behind on the cluster.
            KilnProcess.Run(dir.Path, "trials", "cancel");
        }
    }
}
