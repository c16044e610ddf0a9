using System.Numerics;
using System.Runtime.CompilerServices;

namespace Kiln.Metrics.Epochs;

/// <summary>The median as pandas takes it: the middle value, or the mean of the two middle values.</summary>
internal static class Median
{
    // At most 4,096 buckets: small enough to stay in the first-level cache.
    private const int BucketBits = 12;

    /// <summary>
    /// The median of <paramref name="values"/> (not empty, no NaN), which it reorders. Sorting, or selecting among all
    /// values, would move every value several times; instead a histogram of their order-preserving bit patterns finds
    /// the narrow range that holds the middle, and only that range is searched.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double Of(Span<double> values)
    {
        var n = values.Length;
        MinMax(values, out var min, out var max);
        // Key order is numeric order except that -0 sorts below 0, which compare equal: a zero bound covers both.
        var lowest = Key(min == 0 ? -0.0 : min);
        var highest = Key(max == 0 ? 0.0 : max);
        if (lowest == highest) return FromKey(lowest);
        var shift = Math.Max(0, 64 - BitOperations.LeadingZeroCount(highest - lowest) - BucketBits);
        Span<int> histogram = stackalloc int[(int)((highest - lowest) >> shift) + 1];
        foreach (var v in values) histogram[(int)((Key(v) - lowest) >> shift)]++;
        var k = n / 2;
        var bucket = 0;
        var before = 0;
        while (before + histogram[bucket] <= k) before += histogram[bucket++];
        // Move the middle bucket's values to the front. The swap is unconditional and only the count depends on the
        // bucket: a branch on it would be mispredicted for a good share of the values.
        var inBucket = 0;
        for (var i = 0; i < n; i++)
        {
            var v = values[i];
            values[i] = values[inBucket];
            values[inBucket] = v;
            inBucket += (int)((Key(v) - lowest) >> shift) == bucket ? 1 : 0;
        }
        var middle = values[..inBucket];
        var upper = Select(middle, k - before);
        if (n % 2 == 1) return upper;
        // The lower middle is the k-1-th: before the upper one in its bucket, or (rarely) the largest below the bucket.
        var lower = ulong.MinValue;
        if (k > before)
        {
            foreach (var v in middle[..(k - before)]) lower = Math.Max(lower, Key(v));
        }
        else
        {
            foreach (var v in values[inBucket..])
            {
                var key = Key(v);
                if ((int)((key - lowest) >> shift) < bucket) lower = Math.Max(lower, key);
            }
        }
        // Equal middle values are the median as they are: their sum could overflow.
        var below = FromKey(lower);
        return below == upper ? upper : (upper + below) / 2;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MinMax(ReadOnlySpan<double> values, out double min, out double max)
    {
        min = values[0];
        max = values[0];
        foreach (var v in values)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
    }

    /// <summary>The double's bits turned so that unsigned order is numeric order (negatives flipped, positives above them).</summary>
    private static ulong Key(double v)
    {
        var bits = BitConverter.DoubleToUInt64Bits(v);
        return bits ^ ((ulong)((long)bits >> 63) | 0x8000_0000_0000_0000);
    }

    private static double FromKey(ulong key) =>
        BitConverter.UInt64BitsToDouble((key & 0x8000_0000_0000_0000) != 0 ? key ^ 0x8000_0000_0000_0000 : ~key);

    /// <summary>
    /// Hoare's selection: rearranges <paramref name="values"/> so that position <paramref name="k"/> holds the k-th
    /// smallest with nothing larger before it, in linear expected time; an unlucky run falls back to sorting.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double Select(Span<double> values, int k)
    {
        var lo = 0;
        var hi = values.Length - 1;
        var budget = 2 * BitOperations.Log2((uint)values.Length) + 16;
        while (hi > lo)
        {
            if (--budget < 0)
            {
                values[lo..(hi + 1)].Sort();
                return values[k];
            }
            var mid = lo + (hi - lo) / 2;
            if (values[mid] < values[lo]) (values[mid], values[lo]) = (values[lo], values[mid]);
            if (values[hi] < values[lo]) (values[hi], values[lo]) = (values[lo], values[hi]);
            if (values[hi] < values[mid]) (values[hi], values[mid]) = (values[mid], values[hi]);
            var pivot = values[mid];
            var i = lo;
            var j = hi;
            while (i <= j)
            {
                while (values[i] < pivot) i++;
                while (values[j] > pivot) j--;
                if (i <= j)
                {
                    (values[i], values[j]) = (values[j], values[i]);
                    i++;
                    j--;
                }
            }
            if (k <= j) hi = j;
            else if (k >= i) lo = i;
            else return values[k];
        }
        return values[k];
    }
}
