namespace Kiln.Modules.Tune;

/// <summary>A proposal: multiply <see cref="Key"/> by <see cref="Factor"/>.</summary>
public readonly record struct TuneProposal(string Key, double Factor);

/// <summary>
/// Where <c>tune</c> looks next: a tree-structured Parzen estimator over each dial's log factor that learns from the
/// score every segment received. The first <c>search.startup</c> proposals are random; after that, candidates are
/// drawn around the factors that scored well and the one with the best ratio of good to bad density is taken. Only the
/// last <see cref="Window"/> scores of a dial count, since what helps early in training (raising a rate too low) stops
/// helping once it is done. Deterministic for a seed.
/// </summary>
public sealed class TuneSearch(int seed)
{
    /// <summary>Scores of a dial kept for the estimate.</summary>
    public const int Window = 12;

    /// <summary>Candidates scored per proposal.</summary>
    public const int Candidates = 24;

    /// <summary>The share of a dial's scores counted as good.</summary>
    public const double Gamma = 0.3;

    /// <summary>Factors closer to 1 than this (in log) change too little to be measured.</summary>
    public const double MinStep = 0.1;

    private readonly Random _random = new(seed);
    private readonly Dictionary<string, double> _rejected = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<(double LogFactor, double Score)>> _scores = new(StringComparer.Ordinal);

    /// <summary>Scores received so far, over every dial.</summary>
    public int Told { get; private set; }

    /// <summary>
    /// Records the score of a proposal (NaN counts as the worst score seen); a factor rolled back is not proposed again
    /// next time for that dial.
    /// </summary>
    public void Tell(string key, double factor, double score, bool kept = true)
    {
        if (kept) _rejected.Remove(key);
        else _rejected[key] = Math.Log(factor);
        if (!_scores.TryGetValue(key, out var list)) _scores[key] = list = [];
        list.Add((Math.Log(factor), double.IsNaN(score) ? double.NegativeInfinity : score));
        if (list.Count > Window) list.RemoveAt(0);
        Told++;
    }

    /// <summary>Picks a dial among <paramref name="keys"/> (name, low and high factor) and a factor for it.</summary>
    public TuneProposal Propose(IReadOnlyList<(string Key, double Low, double High)> keys, int startup)
    {
        if (keys.Count == 0) throw new ArgumentException("no dial to propose for", nameof(keys));
        if (Told < startup)
        {
            var (key, low, high) = keys[_random.Next(keys.Count)];
            return new TuneProposal(key, Math.Exp(RandomLog(Math.Log(low), Math.Log(high))));
        }
        var best = (Key: keys[0].Key, Log: 0.0, Ratio: double.NegativeInfinity);
        foreach (var (key, low, high) in keys)
        {
            var (lo, hi) = (Math.Log(low), Math.Log(high));
            var history = _scores.GetValueOrDefault(key) ?? [];
            var sorted = history.OrderByDescending(h => h.Score).ToList();
            var nGood = Math.Max(1, (int)Math.Ceiling(Gamma * sorted.Count));
            var good = sorted.Take(nGood).Select(h => h.LogFactor).ToList();
            var bad = sorted.Skip(nGood).Select(h => h.LogFactor).ToList();
            var width = (hi - lo) / Math.Max(2, Math.Sqrt(history.Count + 1));
            for (var c = 0; c < Candidates; c++)
            {
                // Half the candidates around the good factors, half anywhere.
                var x = good.Count > 0 && c % 2 == 0 ? Math.Clamp(good[_random.Next(good.Count)] + width * Normal(), lo, hi) : RandomLog(lo, hi);
                if (Math.Abs(x) < MinStep) x = x < 0 ? -MinStep : MinStep;
                if (_rejected.TryGetValue(key, out var no) && Math.Abs(x - no) < 2 * MinStep) continue;
                var ratio = Math.Log(Density(x, good, width, lo, hi)) - Math.Log(Density(x, bad, width, lo, hi));
                if (ratio > best.Ratio) best = (key, x, ratio);
            }
        }
        if (double.IsNegativeInfinity(best.Ratio))
        {
            var (key, low, high) = keys[_random.Next(keys.Count)];
            return new TuneProposal(key, Math.Exp(RandomLog(Math.Log(low), Math.Log(high))));
        }
        return new TuneProposal(best.Key, Math.Exp(best.Log));
    }

    private double RandomLog(double lo, double hi)
    {
        var x = lo + (hi - lo) * _random.NextDouble();
        return Math.Abs(x) < MinStep ? (x < 0 ? -MinStep : MinStep) : x;
    }

    /// <summary>A Parzen density over the log factors, with a flat prior over the bounds so an empty set is not zero.</summary>
    private static double Density(double x, List<double> points, double width, double lo, double hi)
    {
        var prior = 1 / (hi - lo);
        var sum = prior;
        foreach (var p in points)
        {
            var z = (x - p) / width;
            sum += Math.Exp(-0.5 * z * z) / (width * Math.Sqrt(2 * Math.PI));
        }
        return sum / (points.Count + 1);
    }

    private double Normal()
    {
        var u1 = 1 - _random.NextDouble();
        var u2 = _random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
