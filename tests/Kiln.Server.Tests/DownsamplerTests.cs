using Kiln.Server.Metrics;

namespace Kiln.Server.Tests;

/// <summary>Per-bucket last, min and max; the first and last points kept; spikes kept; ranges and disorder.</summary>
public sealed class DownsamplerTests
{
    private static (long[] Steps, double[] Values) Series(int n, Func<long, double> f)
    {
        var steps = Enumerable.Range(0, n).Select(i => (long)i).ToArray();
        return (steps, steps.Select(f).ToArray());
    }

    [Fact]
    public void A_short_series_comes_back_whole()
    {
        var (s, v) = Series(10, x => x * 2.0);
        var d = Downsampler.Sample(s, v, ordered: true, null, null, buckets: 10);
        Assert.Equal(s, d.Steps);
        Assert.Equal(v, d.Last);
        Assert.Equal(v, d.Min);
        Assert.Equal(v, d.Max);
        Assert.Equal(10, d.SourcePoints);
    }

    [Fact]
    public void A_long_series_keeps_its_first_and_last_points_and_at_most_one_more_than_the_buckets()
    {
        var (s, v) = Series(1_000_000, x => Math.Sin(x / 1000.0));
        var d = Downsampler.Sample(s, v, ordered: true, null, null, buckets: 1000);
        Assert.InRange(d.Steps.Length, 990, 1001);
        Assert.Equal((0L, v[0]), (d.Steps[0], d.Last[0]));
        Assert.Equal((999_999L, v[^1]), (d.Steps[^1], d.Last[^1]));
        Assert.Equal(1_000_000, d.SourcePoints);
        for (var i = 1; i < d.Steps.Length; i++)
        {
            Assert.True(d.Steps[i] > d.Steps[i - 1], "steps increase");
            Assert.InRange(d.Last[i], d.Min[i], d.Max[i]);
        }
    }

    [Fact]
    public void A_one_step_spike_survives_in_its_bucket_max_and_a_dip_in_its_min()
    {
        var (s, v) = Series(100_000, _ => 1.0);
        v[43_210] = 1e6;
        v[77_777] = -5;
        var d = Downsampler.Sample(s, v, ordered: true, null, null, buckets: 200);
        Assert.Equal(1e6, d.Max.Max());
        Assert.Equal(-5, d.Min.Min());
        var spike = Array.IndexOf(d.Max, 1e6);
        Assert.InRange(43_210, d.Steps[spike - 1] + 1, d.Steps[spike]);
        Assert.All(d.Last, x => Assert.Equal(1.0, x));
    }

    [Fact]
    public void Bucket_bands_are_exact_against_a_brute_force_reduction()
    {
        var random = new Random(7);
        var steps = new List<long>();
        for (long s = 0; steps.Count < 5000; s += random.Next(1, 5)) steps.Add(s);
        var values = steps.Select(_ => random.NextDouble()).ToArray();
        var d = Downsampler.Sample(steps.ToArray(), values, ordered: true, null, null, buckets: 37);
        var consumed = 1;
        for (var b = 1; b < d.Steps.Length; b++)
        {
            var end = steps.IndexOf(d.Steps[b]);
            var slice = values[consumed..(end + 1)];
            Assert.Equal(slice.Min(), d.Min[b]);
            Assert.Equal(slice.Max(), d.Max[b]);
            Assert.Equal(values[end], d.Last[b]);
            consumed = end + 1;
        }
        Assert.Equal(steps.Count, consumed);
    }

    [Fact]
    public void A_step_range_samples_only_its_points_inclusive()
    {
        var (s, v) = Series(10_000, x => x);
        var d = Downsampler.Sample(s, v, ordered: true, from: 2000, to: 2999, buckets: 100);
        Assert.Equal(1000, d.SourcePoints);
        Assert.Equal(2000, d.Steps[0]);
        Assert.Equal(2999, d.Steps[^1]);
        Assert.Equal(2000, d.Min.Min());
        Assert.Equal(2999, d.Max.Max());

        var empty = Downsampler.Sample(s, v, ordered: true, from: 20_000, to: null, buckets: 100);
        Assert.Equal(0, empty.SourcePoints);
        Assert.Empty(empty.Steps);
    }

    [Fact]
    public void Out_of_order_steps_from_a_resumed_run_are_sorted_stably()
    {
        long[] steps = [0, 1, 2, 3, 1, 2, 3, 4];
        double[] values = [0, 10, 20, 30, 11, 21, 31, 41];
        var d = Downsampler.Sample(steps, values, ordered: false, null, null, buckets: 100);
        Assert.Equal([0L, 1, 1, 2, 2, 3, 3, 4], d.Steps);
        Assert.Equal([0.0, 10, 11, 20, 21, 30, 31, 41], d.Last);
    }

    [Fact]
    public void Fewer_than_two_buckets_is_refused()
    {
        var (s, v) = Series(10, x => x);
        Assert.Throws<ArgumentOutOfRangeException>(() => Downsampler.Sample(s, v, true, null, null, 1));
    }
}
