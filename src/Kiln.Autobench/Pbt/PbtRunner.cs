using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Kiln.Train.Data;
using Kiln.Train.Tensors;

namespace Kiln.Autobench.Pbt;

/// <summary>
/// PBT as a benchmark condition: <see cref="Condition.Population"/> members trained in this process in lockstep, each
/// with its own initialisation, batches and Adam, starting from a learning rate drawn log-uniformly within ×/÷3 of the
/// condition's (mis-set) rate; every <see cref="PbtPolicy.Interval"/> steps the policy exploits and explores. Every
/// member is evaluated at every evaluation; the curve is the population's best at each, the final accuracy that of the
/// best member at the end (the member PBT hands back), and the compute every member's steps. Decisions go to
/// <c>pbt.jsonl</c> in the run's folder. The same seed gives the same population and the same decisions.
/// </summary>
public static class PbtRunner
{
    public const string LogFile = "pbt.jsonl";

    /// <summary>PBT's interval for a task: a tenth of the budget, rounded down to whole evaluations (at least one).</summary>
    public static long IntervalFor(BenchTask task) => Math.Max(task.EvalEvery, task.Steps / 10 / task.EvalEvery * task.EvalEvery);

    /// <summary>Ray's defaults, the resample range two decades around the start (a user's range around a guess).</summary>
    public static PbtPolicy PolicyFor(BenchTask task, double start) => new() { Interval = IntervalFor(task), LrRange = (start / 10, start * 10) };

    public static RunResult Run(BenchTask task, (Dataset Train, Dataset Val, string Source) data, Condition condition, long seed, string runDir, PbtPolicy? policy = null)
    {
        var setup = condition.Setup ?? throw new ArgumentException($"condition {condition.Name} is not run: {condition.NotRun}", nameof(condition));
        if (condition.Population < 2) throw new ArgumentException("a population needs at least 2 members", nameof(condition));
        policy ??= PolicyFor(task, setup.Lr);
        if (Directory.Exists(runDir)) Directory.Delete(runDir, recursive: true);
        Directory.CreateDirectory(runDir);
        var (train, val, _) = data;
        var rng = Rng.For(seed, "pbt");
        var members = Enumerable.Range(0, condition.Population).Select(i =>
            new PbtMember(i, task.Model(train, Rng.For(seed, $"model-{i}")), train, task.BatchSize,
                setup.Lr * Math.Exp(Math.Log(3) * (2 * rng.NextDouble() - 1)), seed * 1000 + i)).ToList();
        var log = new StringBuilder();
        void Note(JsonObject o) => log.Append(o.ToJsonString()).Append('\n');
        Note(new JsonObject { ["step"] = 0, ["event"] = "start", ["lr"] = Lrs(members), ["interval"] = policy.Interval });

        var clock = Stopwatch.StartNew();
        var steps = new List<long>();
        var best = new List<double>();
        long compute = 0;
        var exploits = 0;
        for (long s = 0; s < task.Steps; s++)
        {
            foreach (var m in members)
            {
                if (!m.Batcher.Next(out var batch) && !m.Batcher.Next(out batch)) throw new InvalidOperationException("the training set has no batches");
                m.Optimizer.ZeroGrad();
                BenchTrainer.Step(m.Model, batch!);
                m.Optimizer.Step(s);
                compute++;
            }
            if ((s + 1) % task.EvalEvery == 0 || s == task.Steps - 1)
            {
                foreach (var m in members) m.Score = BenchTrainer.Evaluate(m.Model, val).Single(x => x.Name == "val_accuracy").Value;
                steps.Add(s);
                best.Add(members.Max(m => double.IsFinite(m.Score) ? m.Score : 0));
            }
            if ((s + 1) % policy.Interval != 0 || s + 1 >= task.Steps) continue;
            var scores = members.Select(m => m.Score).ToArray();
            foreach (var (member, donor) in policy.Exploit(scores, rng))
            {
                var copied = members[donor].Lr;
                members[member].CopyFrom(members[donor]);
                var (lr, how) = policy.Explore(copied, rng);
                members[member].SetLr(lr, s + 1);
                exploits++;
                Note(new JsonObject
                {
                    ["step"] = s + 1, ["event"] = "exploit", ["member"] = member, ["donor"] = donor, ["scores"] = new JsonArray([.. scores.Select(x => (JsonNode?)RunResult.Json(x))]),
                    ["donor_lr"] = copied, ["explore"] = how, ["lr"] = lr,
                });
            }
        }
        var winner = members.MaxBy(m => double.IsFinite(m.Score) ? m.Score : double.NegativeInfinity)!;
        Note(new JsonObject { ["step"] = task.Steps, ["event"] = "end", ["best_member"] = winner.Index, ["lr"] = Lrs(members), ["scores"] = new JsonArray([.. members.Select(m => (JsonNode?)RunResult.Json(m.Score))]) });
        File.WriteAllText(Path.Combine(runDir, LogFile), log.ToString());
        var wall = clock.Elapsed.TotalSeconds;
        // The final point is the member PBT returns, not the best of the last evaluation's members taken one by one.
        if (best.Count > 0) best[^1] = winner.Score;
        var hit = best.FindIndex(a => a >= task.Target);
        return new RunResult
        {
            Task = task.Name, Condition = condition.Name, Start = condition.Start, Seed = seed, Lr = setup.Lr, Status = "completed",
            RunDir = runDir, Steps = [.. steps], ValAccuracy = [.. best], StepsToTarget = hit >= 0 ? steps[hit] + 1 : null,
            WallSeconds = wall, Compute = compute, Actions = exploits,
        };
    }

    private static JsonArray Lrs(List<PbtMember> members) => new([.. members.Select(m => (JsonNode?)m.Lr)]);
}
