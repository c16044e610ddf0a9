namespace Kiln.Server.Metrics;

/// <summary>
/// Server-side downsampling in the manner of W&amp;B's full-fidelity charts: the step range is cut into equal buckets;
/// each bucket keeps its last point for the line and its minimum and maximum for a band, so a one-step spike stays
/// visible at any zoom. The first point of the range is kept as is, and the last bucket ends on the last point.
/// </summary>
public static class Downsampler
{
    public static SampledSeries Sample(ReadOnlySpan<long> steps, ReadOnlySpan<double> values, bool ordered, long? from, long? to, int buckets)
    {
        if (buckets < 2) throw new ArgumentOutOfRangeException(nameof(buckets), "at least 2 buckets");
        if (!ordered) (steps, values) = SortedCopy(steps, values);
        var lo = from is { } f ? LowerBound(steps, f) : 0;
        var hi = to is { } t ? UpperBound(steps, t) : steps.Length;
        var n = hi - lo;
        if (n <= 0) return new SampledSeries([], [], [], [], 0);
        if (n <= buckets)
        {
            var s = steps[lo..hi].ToArray();
            var v = values[lo..hi].ToArray();
            return new SampledSeries(s, v, (double[])v.Clone(), (double[])v.Clone(), n);
        }
        var outSteps = new List<long>(buckets + 1) { steps[lo] };
        var outLast = new List<double>(buckets + 1) { values[lo] };
        var outMin = new List<double>(buckets + 1) { values[lo] };
        var outMax = new List<double>(buckets + 1) { values[lo] };
        double first = steps[lo + 1], span = Math.Max(1, steps[hi - 1] - first + 1);
        var width = span / buckets;
        var i = lo + 1;
        for (var b = 0; b < buckets && i < hi; b++)
        {
            var end = b == buckets - 1 ? double.PositiveInfinity : first + (b + 1) * width;
            if (steps[i] >= end) continue;
            double min = double.PositiveInfinity, max = double.NegativeInfinity;
            var last = i;
            while (i < hi && steps[i] < end)
            {
                var v = values[i];
                if (v < min) min = v;
                if (v > max) max = v;
                last = i++;
            }
            outSteps.Add(steps[last]);
            outLast.Add(values[last]);
            outMin.Add(min);
            outMax.Add(max);
        }
        return new SampledSeries([.. outSteps], [.. outLast], [.. outMin], [.. outMax], n);
    }

    private static int LowerBound(ReadOnlySpan<long> steps, long value)
    {
        int lo = 0, hi = steps.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (steps[mid] < value) lo = mid + 1; else hi = mid;
        }
        return lo;
    }

    private static int UpperBound(ReadOnlySpan<long> steps, long value)
    {
        int lo = 0, hi = steps.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (steps[mid] <= value) lo = mid + 1; else hi = mid;
        }
        return lo;
    }

    /// <summary>A run restarted from an earlier step writes steps out of order; sort them (stably) for drawing.</summary>
    private static (long[], double[]) SortedCopy(ReadOnlySpan<long> steps, ReadOnlySpan<double> values)
    {
        var s = steps.ToArray();
        var v = values.ToArray();
        var order = Enumerable.Range(0, s.Length).OrderBy(i => s[i]).ToArray();
        return (order.Select(i => s[i]).ToArray(), order.Select(i => v[i]).ToArray());
    }
}
