using System.Runtime.CompilerServices;

namespace Kiln.Metrics;

/// <summary>One metric's points in the order they were written: a column of steps and a column of values.</summary>
public sealed class MetricSeries
{
    private long[] _steps = new long[256];
    private double[] _values = new double[256];

    public int Count { get; private set; }
    public ReadOnlySpan<long> Steps => _steps.AsSpan(0, Count);
    public ReadOnlySpan<double> Values => _values.AsSpan(0, Count);

    /// <summary>Whether steps never decrease (then ranges are found by binary search).</summary>
    public bool Ordered { get; private set; } = true;

    /// <summary>The memory its columns hold.</summary>
    public long Bytes => (long)_steps.Length * (sizeof(long) + sizeof(double));

    /// <summary>
    /// Appends another series' points (a later part of the same file) in one copy, making room for
    /// <paramref name="expectedMore"/> points beyond them at once: fresh memory is costly to touch, so a large read
    /// grows each column once instead of doubling it again and again.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void AddRange(MetricSeries other, long expectedMore = 0)
    {
        var n = other.Count;
        if (n == 0) return;
        if (Count + n > _steps.Length)
        {
            var capacity = (int)Math.Min(Array.MaxLength, Math.Max(Count + n + expectedMore, _steps.Length * 2L));
            Array.Resize(ref _steps, capacity);
            Array.Resize(ref _values, capacity);
        }
        if (!other.Ordered || (Count > 0 && other._steps[0] < _steps[Count - 1])) Ordered = false;
        other.Steps.CopyTo(_steps.AsSpan(Count));
        other.Values.CopyTo(_values.AsSpan(Count));
        Count += n;
    }

    /// <summary>Forgets the points but keeps the memory, for the points that come next.</summary>
    internal void Reset()
    {
        Count = 0;
        Ordered = true;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void Add(long step, double value)
    {
        if (Count == _steps.Length)
        {
            Array.Resize(ref _steps, Count * 2);
            Array.Resize(ref _values, Count * 2);
        }
        if (Count > 0 && step < _steps[Count - 1]) Ordered = false;
        _steps[Count] = step;
        _values[Count] = value;
        Count++;
    }
}
