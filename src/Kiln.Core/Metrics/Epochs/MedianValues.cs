using System.Runtime.CompilerServices;

namespace Kiln.Metrics.Epochs;

/// <summary>
/// The values of one group's median columns, gathered until the group's medians are taken. The arrays are kept
/// for the next group: groups are mostly of one size, so after the first one nothing is allocated.
/// </summary>
internal sealed class MedianValues
{
    private readonly double[][] _items;
    private readonly int[] _counts;

    public MedianValues(int columns)
    {
        _items = new double[columns][];
        _counts = new int[columns];
        for (var m = 0; m < columns; m++) _items[m] = new double[16];
        PeakValues = 16L * columns;
    }

    /// <summary>The values held at most so far, over all columns: what this costs in memory, in doubles.</summary>
    public long PeakValues { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(int column, double value)
    {
        var count = _counts[column];
        if (count == _items[column].Length) Grow(column);
        _items[column][count] = value;
        _counts[column] = count + 1;
    }

    /// <summary>The values of <paramref name="column"/>, in an order the caller may change.</summary>
    public Span<double> Of(int column) => new(_items[column], 0, _counts[column]);

    public void Clear() => Array.Clear(_counts);

    private void Grow(int column)
    {
        var larger = new double[2 * _items[column].Length];
        Array.Copy(_items[column], larger, _counts[column]);
        _items[column] = larger;
        long held = 0;
        foreach (var items in _items) held += items.Length;
        PeakValues = Math.Max(PeakValues, held);
    }
}
