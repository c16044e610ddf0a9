using System.Runtime.CompilerServices;

namespace Kiln.Metrics.Epochs;

/// <summary>
/// Reduces rows into (epoch, mode) groups in one pass, holding only the current group's median values: when the
/// group changes, the one that ends takes its medians and keeps nothing but its small totals. A group that comes
/// back later (its rows are not in one run) adds to its totals and is marked <see cref="EpochGroup.Split"/>; its
/// medians are gathered again afterwards.
/// </summary>
internal sealed class EpochAccumulator
{
    private readonly BatchLogHeader _header;
    private readonly MedianValues _medians;
    private EpochGroup? _current;

    /// <param name="medians">Where the current group's median values go; cleared, and reused after <see cref="Close"/>.</param>
    public EpochAccumulator(BatchLogHeader header, MedianValues medians)
    {
        _header = header;
        _medians = medians;
        Groups = new EpochGroups(header);
    }

    public EpochGroups Groups { get; }

    /// <summary>The group of the latest row, until <see cref="Close"/>.</summary>
    public EpochGroup? Current => _current;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Row(long epoch, int mode, ReadOnlySpan<double> values, long start, long end)
    {
        var group = _current;
        if (group is null || epoch != group.Epoch || mode != group.Mode) group = Switch(epoch, mode, start);
        group.Add(_header, values, group.Split ? null : _medians);
        group.LastEnd = end;
        Groups.Rows++;
    }

    /// <summary>Ends the current run of rows; call once the last row is in.</summary>
    public void Close()
    {
        if (_current is { Split: false } group) group.TakeMedians(_medians);
        _medians.Clear();
        _current = null;
    }

    private EpochGroup Switch(long epoch, int mode, long start)
    {
        Close();
        return _current = Groups.Resume(epoch, mode, start);
    }

    /// <summary>The accumulator as a sink for the parser: a struct, so the parser's loop is compiled for it and the row call inlined.</summary>
    public readonly struct Sink(EpochAccumulator rows) : IBatchRowSink
    {
        public void Row(long epoch, int mode, ReadOnlySpan<double> values, long start, long end) => rows.Row(epoch, mode, values, start, end);
    }
}
