using Kiln.Train.Tensors;

namespace Kiln.Autobench.Pbt;

/// <summary>
/// Population-based training's exploit and explore, with Ray Tune's defaults (<c>PopulationBasedTraining</c>): every
/// <see cref="Interval"/> steps the members are ranked by score; each of the bottom <see cref="QuantileFraction"/> copies
/// the weights and optimizer state of a member of the top quantile drawn at random (exploit), then changes the learning
/// rate it copied (explore): with probability <see cref="ResampleProbability"/> it draws a new one from
/// <see cref="LrRange"/> (log-uniform), otherwise it multiplies it by one of <see cref="PerturbationFactors"/>.
/// Ray's <c>perturbation_interval=60</c> counts seconds of training; here it is a number of steps.
/// </summary>
public sealed record PbtPolicy
{
    public double QuantileFraction { get; init; } = 0.25;
    public double ResampleProbability { get; init; } = 0.25;
    public double[] PerturbationFactors { get; init; } = [1.2, 0.8];
    public required long Interval { get; init; }

    /// <summary>The learning rates a resample draws from, log-uniformly.</summary>
    public required (double Lo, double Hi) LrRange { get; init; }

    /// <summary>
    /// The members of the bottom and of the top quantile, by score (not a finite number: the worst). As Ray: the quantile
    /// holds ⌈n·q⌉ members, at most ⌊n/2⌋; ties keep the members' order.
    /// </summary>
    public (int[] Bottom, int[] Top) Quantiles(IReadOnlyList<double> scores)
    {
        var order = Enumerable.Range(0, scores.Count).OrderBy(i => double.IsFinite(scores[i]) ? scores[i] : double.NegativeInfinity).ToArray();
        var n = (int)Math.Ceiling(scores.Count * QuantileFraction);
        if (n > scores.Count / 2) n = scores.Count / 2;
        return (order[..n], order[^n..]);
    }

    /// <summary>Which member each bottom member copies: a top member drawn at random.</summary>
    public IReadOnlyList<(int Member, int Donor)> Exploit(IReadOnlyList<double> scores, Rng rng)
    {
        var (bottom, top) = Quantiles(scores);
        return [.. bottom.Select(b => (b, top[rng.Next(top.Length)]))];
    }

    /// <summary>The learning rate after exploring from <paramref name="lr"/>, and how it was reached.</summary>
    public (double Lr, string How) Explore(double lr, Rng rng)
    {
        if (rng.NextDouble() < ResampleProbability)
        {
            var (lo, hi) = LrRange;
            return (Math.Exp(Math.Log(lo) + rng.NextDouble() * (Math.Log(hi) - Math.Log(lo))), "resample");
        }
        var factor = PerturbationFactors[rng.Next(PerturbationFactors.Length)];
        return (lr * factor, $"×{factor:g3}");
    }
}
