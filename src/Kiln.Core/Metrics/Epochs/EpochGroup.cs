using System.Runtime.CompilerServices;

namespace Kiln.Metrics.Epochs;

/// <summary>
/// One (epoch, mode) group's reduction so far: per reduced column the sum (mean), the latest value (last) or the
/// largest (max), how many values it had, and the medians once its values are in. Holds nothing per row.
/// </summary>
internal sealed class EpochGroup
{
    public EpochGroup(long epoch, int mode, BatchLogHeader header, long start)
    {
        Epoch = epoch;
        Mode = mode;
        Acc = new double[header.Reduced.Length];
        Counts = new int[header.Reduced.Length];
        Medians = new double[header.Medians];
        FirstStart = start;
    }

    public long Epoch { get; }
    public int Mode { get; private set; }
    public int Rows { get; private set; }
    public double[] Acc { get; }
    public int[] Counts { get; }

    /// <summary>Per median column: the median of the group's values (meaningless where the count is 0).</summary>
    public double[] Medians { get; }

    /// <summary>The file offset of the group's first line, and the offset just after its last line.</summary>
    public long FirstStart { get; }
    public long LastEnd { get; set; }

    /// <summary>
    /// The group's rows are not all in one run: its values reappeared after another group's, so its medians need
    /// them all gathered again (<see cref="SplitGroupMedians"/>).
    /// </summary>
    public bool Split { get; set; }

    /// <summary>Adds a row's values; the median columns' values go to <paramref name="medians"/> when given.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Add(BatchLogHeader header, ReadOnlySpan<double> values, MedianValues? medians)
    {
        Rows++;
        var acc = Acc;
        var counts = Counts;
        foreach (var k in header.MeanColumns)
        {
            var v = values[k];
            if (double.IsNaN(v)) continue;
            acc[k] += v;
            counts[k]++;
        }
        foreach (var k in header.LastColumns)
        {
            var v = values[k];
            if (double.IsNaN(v)) continue;
            acc[k] = v;
            counts[k]++;
        }
        foreach (var k in header.MaxColumns)
        {
            var v = values[k];
            if (double.IsNaN(v)) continue;
            if (counts[k] == 0 || v > acc[k]) acc[k] = v;
            counts[k]++;
        }
        var medianColumns = header.MedianColumns;
        for (var m = 0; m < medianColumns.Length; m++)
        {
            var k = medianColumns[m];
            var v = values[k];
            if (double.IsNaN(v)) continue;
            medians?.Add(m, v);
            counts[k]++;
        }
    }

    /// <summary>Gives the group the number its mode has in another <see cref="ModeNames"/>.</summary>
    public void Renumber(int mode) => Mode = mode;

    /// <summary>Adds the totals of the same group's rows later in the log.</summary>
    public void Merge(BatchLogHeader header, EpochGroup later)
    {
        Rows += later.Rows;
        foreach (var k in header.MeanColumns) Acc[k] += later.Acc[k];
        foreach (var k in header.LastColumns)
        {
            if (later.Counts[k] > 0) Acc[k] = later.Acc[k];
        }
        foreach (var k in header.MaxColumns)
        {
            if (later.Counts[k] > 0 && (Counts[k] == 0 || later.Acc[k] > Acc[k])) Acc[k] = later.Acc[k];
        }
        for (var k = 0; k < Counts.Length; k++) Counts[k] += later.Counts[k];
        LastEnd = later.LastEnd;
    }

    /// <summary>Takes the medians of the gathered values.</summary>
    public void TakeMedians(MedianValues medians)
    {
        for (var m = 0; m < Medians.Length; m++)
        {
            var values = medians.Of(m);
            Medians[m] = values.IsEmpty ? double.NaN : Median.Of(values);
        }
    }

    /// <summary>The reduced value of column <paramref name="k"/>; null when the group had none.</summary>
    public double? Value(BatchLogHeader header, int k)
    {
        if (Counts[k] == 0) return null;
        var v = header.Kinds[k] switch
        {
            ColumnRole.Mean => Acc[k] / Counts[k],
            ColumnRole.Median => Medians[header.MedianIndex[k]],
            _ => Acc[k],
        };
        // inf − inf: pandas writes the NaN as an empty cell, so it reads back as missing.
        return double.IsNaN(v) ? null : v;
    }
}
