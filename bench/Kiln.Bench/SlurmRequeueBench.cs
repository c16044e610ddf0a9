using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Kiln.Execution.Slurm;
using Kiln.IO;
using Kiln.Metrics;
using Kiln.Protocol;
using Kiln.Runs;

namespace Kiln.Bench;

/// <summary>
/// A sweep preempted over and over on the cluster that answers here (scripts/slurm-up.sh): <c>kiln trials run --executor
/// slurm</c> submits the trials of a built-in run, and while they train each one is put back in the queue with
/// <c>scontrol requeue</c> several times, at steps drawn at random. Then every trial is checked from its files: it
/// completed; every attempt after an interrupted one resumed from the checkpoint the interruption wrote (its
/// <c>stderr.log</c> says <c>resuming at step N</c>), at or after the step it had reached, so no step was trained twice
/// and none restarted from step 0; its metrics file holds each step once; and its metrics equal, to the last bit, those
/// of the same trial run here without interruption (<c>kiln trials run</c>, local executor).
/// </summary>
internal static partial class SlurmRequeueBench
{
    /// <summary>One trial on the cluster, and what was done to it.</summary>
    private sealed class Trial(SlurmTask task, string slurmId, Queue<long> targets)
    {
        public SlurmTask Task { get; } = task;
        public string Dir { get; } = task.RunDirectory!;
        public string SlurmId { get; } = slurmId;
        public Queue<long> Targets { get; } = targets;
        /// <summary>(the step it had reached, when) for each requeue issued.</summary>
        public List<(long Reached, double At)> Requeues { get; } = [];
        /// <summary>Seconds from each requeue to the task running again.</summary>
        public List<double> Back { get; } = [];
        /// <summary>Requeued and not seen running again yet.</summary>
        public bool Waiting { get; set; }
        /// <summary>Seen out of the running state since the last requeue (Slurm took it).</summary>
        public bool Left { get; set; }
        public long ResumeFloor { get; set; } = -1;
        public SlurmTaskState? State { get; set; }
    }

    public static int Run(string kiln, int trials, int requeues, int steps, int seed)
    {
        if (SlurmCli.Unavailable() is { } why)
        {
            Console.Error.WriteLine($"slurm-requeue: no cluster answers ({why}); bash scripts/slurm-up.sh starts one");
            return 1;
        }
        if (!File.Exists(kiln))
        {
            Console.Error.WriteLine($"slurm-requeue: no kiln executable at {kiln} (scripts/publish.sh, or --kiln src/Kiln.Cli/bin/Release/net10.0/kiln)");
            return 1;
        }
        var root = Path.Combine(Path.GetTempPath(), "kiln-bench-requeue-" + Guid.NewGuid().ToString("N")[..8]);
        var preempted = Path.Combine(root, "preempted");
        var straight = Path.Combine(root, "uninterrupted");
        Workspace(preempted, trials, steps);
        Workspace(straight, trials, steps);
        try
        {
            var clock = Stopwatch.StartNew();
            ProcessRuns.Measure(kiln, "--dir", preempted, "--plain", "trials", "run", "--executor", "slurm");
            var submission = SlurmSubmission.ReadAll(Path.Combine(preempted, ".kiln", "jobs")).Single();
            var random = new Random(seed);
            var watched = submission.Tasks.Select(t => new Trial(t, submission.SlurmId(t.Index)!, Targets(random, requeues, steps))).ToList();
            var arrays = submission.Arrays.Select(a => a.JobId).ToList();
            if (!Follow(watched, arrays, clock, TimeSpan.FromMinutes(30)))
            {
                SlurmCli.Run("scancel", arrays);
                Console.Error.WriteLine("slurm-requeue: the trials did not all end within 30 minutes; cancelled");
                return 1;
            }
            var preemptedWall = clock.Elapsed.TotalSeconds;

            var local = ProcessRuns.Measure(kiln, "--dir", straight, "--plain", "trials", "run");
            return Report(watched, preempted, straight, steps, preemptedWall, local.Seconds);
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); }
            catch (IOException) { }
        }
    }

    /// <summary>A workspace of <paramref name="trials"/> trials of the built-in MLP on synthetic data, one learning rate each.</summary>
    private static void Workspace(string root, int trials, int steps)
    {
        Directory.CreateDirectory(Path.Combine(root, "cfg", "sweep", "synthetic", "mlp", "adam"));
        File.WriteAllText(Path.Combine(root, "cfg", "cfg.yaml"),
            $"seed: 7\nepochs: 1000\nbatch_size: 128\nmax_steps: {steps}\nmodel: {{type: mlp, hidden: [512, 512]}}\n");
        var lrs = Enumerable.Range(0, trials).Select(i => (0.0002 * (i + 1)).ToString("R", CultureInfo.InvariantCulture));
        File.WriteAllText(Path.Combine(root, "cfg", "sweep", "synthetic", "mlp", "adam", "cfg.yaml"), $"lr: [{string.Join(", ", lrs)}]\n");
    }

    /// <summary>The steps at which a trial is requeued: distinct, increasing, between a tenth and nine tenths of the run.</summary>
    private static Queue<long> Targets(Random random, int count, int steps)
    {
        var picked = new SortedSet<long>();
        while (picked.Count < count) picked.Add(random.NextInt64(steps / 10, steps * 9 / 10));
        return new Queue<long>(picked);
    }

    /// <summary>Polls the cluster (one call for all tasks) and requeues each running trial when it reaches its next step; true once every task ended.</summary>
    private static bool Follow(List<Trial> trials, List<string> arrays, Stopwatch clock, TimeSpan limit)
    {
        var reader = new SlurmStatusReader();
        while (clock.Elapsed < limit)
        {
            var states = reader.Read(arrays);
            foreach (var t in trials)
            {
                t.State = states.GetValueOrDefault(t.SlurmId) ?? t.State;
                if (t.State?.State != "RUNNING")
                {
                    t.Left |= t.Waiting;
                    continue;
                }
                if (t.Waiting)
                {
                    if (!t.Left) continue;
                    // Running again: it goes on from its checkpoint, and must pass it before it is interrupted again.
                    t.Waiting = false;
                    t.Back.Add(clock.Elapsed.TotalSeconds - t.Requeues[^1].At);
                    t.ResumeFloor = RunCheckpoint.Read(t.Dir)?.Step ?? 0;
                }
                if (t.Targets.Count == 0 || LastStep(t.Dir) is not { } reached || reached < Math.Max(t.Targets.Peek(), t.ResumeFloor + 3)) continue;
                t.Targets.Dequeue();
                // A task that ended between the poll and now cannot be requeued: that requeue is not counted.
                if (!SlurmCli.Run("scontrol", ["requeue", t.SlurmId]).Ok) continue;
                t.Requeues.Add((reached, clock.Elapsed.TotalSeconds));
                (t.Waiting, t.Left) = (true, false);
            }
            if (trials.All(t => t.State is { Ended: true })) return true;
            Thread.Sleep(150);
        }
        return false;
    }

    /// <summary>The last train step in the trial's metrics file, or null before its first.</summary>
    private static long? LastStep(string dir)
    {
        var reader = new MetricsReader(Path.Combine(dir, RunFiles.Metrics));
        reader.Read();
        return reader.Series.TryGetValue("train_loss", out var loss) && loss.Count > 0 ? loss.Steps[^1] : null;
    }

    [GeneratedRegex(@"^resuming at step (\d+) from ", RegexOptions.Multiline)]
    private static partial Regex Resumed();

    /// <summary>Every metrics line without its wall time, in order.</summary>
    private static List<string> MetricLines(string dir)
    {
        var lines = new List<string>();
        JsonlTail.ReadAll(Path.Combine(dir, RunFiles.Metrics), line =>
        {
            var o = (JsonObject)JsonNode.Parse(line.Bytes.Span)!;
            o.Remove("wall_time");
            lines.Add(o.ToJsonString());
        });
        return lines;
    }

    private static int Report(List<Trial> trials, string preempted, string straight, int steps, double preemptedWall, double straightWall)
    {
        Console.WriteLine($"{"trial",-10} {"slurm",-10} {"kiln",-10} {"requeues",8} {"slurm_count",11} {"resumed at (reached)",-34} {"lost",5} {"steps_once",10} {"metrics",8}");
        var failures = new List<string>();
        long lostSteps = 0;
        foreach (var t in trials)
        {
            var name = Path.GetFileName(t.Dir);
            var status = RunState.Read(t.Dir)?.Status ?? "?";
            var stderr = File.Exists(Path.Combine(t.Dir, "stderr.log")) ? File.ReadAllText(Path.Combine(t.Dir, "stderr.log")) : "";
            var resumedAt = Resumed().Matches(stderr).Select(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToList();
            // Each interruption is followed by an attempt that resumed; one that resumed before the step the interrupted
            // attempt had reached trains those steps again (lost), and one that did not resume at all started from 0.
            long lost = 0;
            for (var k = 0; k < t.Requeues.Count; k++)
                lost += k < resumedAt.Count ? Math.Max(0, t.Requeues[k].Reached - resumedAt[k]) : t.Requeues[k].Reached;
            lostSteps += lost;
            var trainSteps = MetricLines(t.Dir).Select(l => JsonNode.Parse(l)!).Where(o => (string?)o["phase"] == "train").Select(o => (long)o["step"]!).ToList();
            var once = trainSteps.SequenceEqual(Enumerable.Range(0, steps).Select(i => (long)i));
            var same = MetricLines(t.Dir).SequenceEqual(MetricLines(Path.Combine(straight, Path.GetRelativePath(preempted, t.Dir))));
            var shown = string.Join(' ', resumedAt.Select((r, k) => k < t.Requeues.Count ? $"{r}({t.Requeues[k].Reached})" : $"{r}(?)"));
            Console.WriteLine($"{name,-10} {t.State?.State ?? "?",-10} {status,-10} {t.Requeues.Count,8} {t.State?.Requeues,11} {shown,-34} {lost,5} {(once ? "yes" : "NO"),10} {(same ? "equal" : "DIFFER"),8}");
            if (t.State?.State != "COMPLETED" || status != RunInfo.Completed) failures.Add($"{name}: did not complete (Slurm {t.State?.State}, Kiln {status})");
            if (resumedAt.Count != t.Requeues.Count) failures.Add($"{name}: {t.Requeues.Count} requeues but {resumedAt.Count} resumes: an attempt started from step 0");
            if (t.State?.Requeues != t.Requeues.Count) failures.Add($"{name}: Slurm counts {t.State?.Requeues} requeues, {t.Requeues.Count} were issued");
            if (lost > 0) failures.Add($"{name}: {lost} steps trained twice");
            if (!once) failures.Add($"{name}: its metrics do not hold each of the {steps} steps once");
            if (!same) failures.Add($"{name}: its metrics differ from the uninterrupted run's");
        }
        var counts = trials.Select(t => (double)t.Requeues.Count).Order().ToList();
        var back = trials.SelectMany(t => t.Back).Order().ToList();
        Figures.Print("slurm_requeue.trials", trials.Count, "", $"{steps} steps each, built-in MLP on synthetic data");
        Figures.Print("slurm_requeue.requeues", counts.Sum(), "", $"per trial min {counts[0]}, mean {counts.Average():0.##}, max {counts[^1]}");
        Figures.Print("slurm_requeue.wall", preemptedWall, "s", "submit to every task ended, on the cluster, with the requeues");
        Figures.Print("slurm_requeue.uninterrupted_wall", straightWall, "s", "the same trials, kiln trials run here (local executor)");
        if (back.Count > 0) Figures.Print("slurm_requeue.back_running", Figures.Percentile(back, 50), "s", $"median time from scontrol requeue to the task running again (max {back[^1]:0.#} s)");
        Figures.Print("slurm_requeue.lost_steps", lostSteps, "", "steps trained twice, over all trials; target 0");
        Figures.Print("slurm_requeue.restarts_from_zero", failures.Count(f => f.Contains("started from step 0", StringComparison.Ordinal)), "", "target 0");
        Figures.Print("slurm_requeue.metrics_equal", trials.Count - failures.Count(f => f.Contains("differ", StringComparison.Ordinal)), "", $"of {trials.Count} trials, bit for bit");
        foreach (var f in failures) Console.Error.WriteLine("slurm-requeue: " + f);
        return failures.Count == 0 ? 0 : 1;
    }
}
