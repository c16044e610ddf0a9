using System.Text.Json.Nodes;
using Kiln.Autobench.Pbt;
using Kiln.Testing;
using Kiln.Train.Data;
using Kiln.Train.Nn;
using Kiln.Train.Tensors;

namespace Kiln.Autobench.Tests;

/// <summary>PBT's exploit and explore with Ray's defaults, and a population trained on the tiny task.</summary>
public sealed class PbtTests : IDisposable
{
    private readonly TempDir _dir = new("pbt");

    public void Dispose() => _dir.Dispose();

    private static PbtPolicy Policy => new() { Interval = 4, LrRange = (1e-4, 1e-2) };

    [Fact]
    public void Ray_s_defaults()
    {
        var p = Policy;
        Assert.Equal((0.25, 0.25), (p.QuantileFraction, p.ResampleProbability));
        Assert.Equal([1.2, 0.8], p.PerturbationFactors);
    }

    [Fact]
    public void Of_four_the_worst_copies_the_best_and_a_score_that_is_not_a_number_ranks_last()
    {
        var p = Policy;
        string Q(double[] scores, PbtPolicy? policy = null)
        {
            var (bottom, top) = (policy ?? p).Quantiles(scores);
            return $"{string.Join(",", bottom)} | {string.Join(",", top)}";
        }
        Assert.Equal("2 | 0", Q([0.9, 0.5, 0.1, 0.6]));
        Assert.Equal("1 | 3", Q([0.2, double.NaN, 0.3, 0.8]));
        // ⌈8 · 0.25⌉ = 2 each side; of 2 members, one each side; at most half the population in a quantile.
        Assert.Equal("1,3 | 2,0", Q([.8, .1, .7, .2, .6, .3, .5, .4]));
        Assert.Equal("1 | 0", Q([0.9, 0.1]));
        Assert.Equal("0 | 1", Q([0.1, 0.9], p with { QuantileFraction = 0.9 }));
        Assert.Equal([(2, 0)], p.Exploit([0.9, 0.5, 0.1, 0.6], new Rng(1)));
    }

    [Fact]
    public void Explore_perturbs_by_0_8_or_1_2_or_resamples_in_range_about_a_quarter_of_the_time()
    {
        var p = Policy;
        var rng = new Rng(7);
        var draws = Enumerable.Range(0, 4000).Select(_ => p.Explore(1e-3, rng)).ToList();
        var resampled = draws.Where(d => d.How == "resample").ToList();
        Assert.InRange(resampled.Count / 4000.0, 0.22, 0.28);
        Assert.All(resampled, d => Assert.InRange(d.Lr, 1e-4, 1e-2));
        var perturbed = draws.Where(d => d.How != "resample").ToList();
        Assert.All(perturbed, d => Assert.True(Math.Abs(d.Lr - 1.2e-3) < 1e-12 || Math.Abs(d.Lr - 0.8e-3) < 1e-12, $"{d.Lr}"));
        Assert.InRange(perturbed.Count(d => d.Lr > 1e-3) / (double)perturbed.Count, 0.45, 0.55);
        // Seeded: the same draws again.
        var again = new Rng(7);
        Assert.Equal(draws.Take(50), Enumerable.Range(0, 50).Select(_ => p.Explore(1e-3, again)));
    }

    [Fact]
    public void Exploit_copies_the_weights_and_the_optimizer_state_so_both_take_the_same_next_step()
    {
        var task = TinyTask.Create();
        var (train, _, _) = task.Data();
        PbtMember Member(int i, double lr) => new(i, task.Model(train, Rng.For(i, "model")), train, task.BatchSize, lr, i);
        var donor = Member(0, 0.05);
        var member = Member(1, 0.001);
        foreach (var m in new[] { donor, member })
        {
            for (var s = 0; s < 5; s++)
            {
                m.Batcher.Next(out var b);
                m.Optimizer.ZeroGrad();
                BenchTrainer.Step(m.Model, b!);
                m.Optimizer.Step(s);
            }
        }
        member.CopyFrom(donor);
        Assert.Equal(0.05, member.Lr);
        Assert.Equal(donor.Optimizer.Updates, member.Optimizer.Updates);
        // The same batch through both: Adam's moments were copied too, or the updates would differ.
        var batch = new Batcher(train, task.BatchSize, shuffle: false, seed: 0);
        batch.Next(out var one);
        foreach (var m in new[] { donor, member })
        {
            m.Optimizer.ZeroGrad();
            BenchTrainer.Step(m.Model, one!);
            m.Optimizer.Step(5);
        }
        var a = donor.Model.StateDict();
        var b2 = member.Model.StateDict();
        Assert.All(a, kv => Assert.Equal(kv.Value.ToArray(), b2[kv.Key].ToArray()));
    }

    [Fact]
    public void A_population_of_four_trains_four_times_the_steps_logs_its_exploits_and_repeats_for_a_seed()
    {
        var task = TinyTask.Create();
        var data = task.Data();
        var condition = new Condition("pbt-4", Condition.Low, new BenchSetup(BenchSetup.Adam, task.GoodLr / 10), Population: 4);
        var a = PbtRunner.Run(task, data, condition, 2, Path.Combine(_dir.Path, "a"));
        var b = PbtRunner.Run(task, data, condition, 2, Path.Combine(_dir.Path, "b"));
        Assert.Equal(4 * 40, a.Compute);
        Assert.Equal(20, a.ValAccuracy.Length);
        Assert.Equal(a.ValAccuracy, b.ValAccuracy);
        // Every 4 steps but the last interval's end: 9 rounds, one exploit each.
        Assert.Equal(9, a.Actions);
        var log = File.ReadAllLines(Path.Combine(a.RunDir, PbtRunner.LogFile)).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(File.ReadAllText(Path.Combine(a.RunDir, PbtRunner.LogFile)), File.ReadAllText(Path.Combine(b.RunDir, PbtRunner.LogFile)));
        Assert.Equal(9, log.Count(l => (string?)l["event"] == "exploit"));
        Assert.All((JsonArray)log[0]["lr"]!, lr => Assert.InRange((double)lr!, task.GoodLr / 30 * 0.999, task.GoodLr / 10 * 3 * 1.001));
        Assert.Equal("end", (string?)log[^1]["event"]);
    }
}
