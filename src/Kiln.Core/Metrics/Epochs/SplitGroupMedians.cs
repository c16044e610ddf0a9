namespace Kiln.Metrics.Epochs;

/// <summary>
/// The medians of groups whose rows are spread over the log (<see cref="EpochGroup.Split"/>). A median needs all of a
/// group's values at once, which the single pass dropped when the group's first run ended; so the stretch of the
/// file from the group's first line to its last is read again, gathering only those groups' median columns. Groups
/// are gathered together, one stretch read for several, while their values fit a budget, so memory stays bounded
/// by the budget (or by the largest such group) whatever the file's size.
/// </summary>
internal sealed class SplitGroupMedians : IBatchRowSink
{
    private readonly BatchLogHeader _header;
    private readonly EpochGroups _groups;
    private readonly Dictionary<EpochGroup, MedianValues> _batch = [];
    // The previous row's group and its values: rows of a group come in runs.
    private long _lastEpoch;
    private int _lastMode = -1;
    private MedianValues? _lastValues;

    private SplitGroupMedians(BatchLogHeader header, EpochGroups groups)
    {
        _header = header;
        _groups = groups;
    }

    /// <summary>The median values held at most at once.</summary>
    public long PeakValues { get; private set; }

    /// <summary>
    /// Takes the medians of the split groups among <paramref name="groups"/>, reading the file again through
    /// <paramref name="buffer"/>; the groups' mode numbers are those of <paramref name="modes"/>, and
    /// the columns known <paramref name="bad"/> are not read.
    /// </summary>
    public static SplitGroupMedians Gather(
        BatchLogFile file, BatchLogHeader header, ModeNames modes, bool[] bad, EpochGroups groups, long budget, byte[] buffer)
    {
        var gatherer = new SplitGroupMedians(header, groups);
        var split = new List<EpochGroup>();
        for (var i = 0; i < groups.Count; i++)
        {
            if (groups[i].Split && header.Medians > 0) split.Add(groups[i]);
        }
        if (split.Count == 0) return gatherer;
        // Groups are listed in order of first appearance, so by their first line already.
        var parser = new BatchLogParser(header, modes);
        parser.ReadOnlyMedians(bad);
        for (var i = 0; i < split.Count;)
        {
            var first = i;
            var values = Needed(header, split[i++]);
            while (i < split.Count && values + Needed(header, split[i]) <= budget) values += Needed(header, split[i++]);
            gatherer.Batch(file, parser, split.GetRange(first, i - first), buffer);
        }
        return gatherer;
    }

    public void Row(long epoch, int mode, ReadOnlySpan<double> values, long start, long end)
    {
        if (epoch != _lastEpoch || mode != _lastMode)
        {
            (_lastEpoch, _lastMode) = (epoch, mode);
            _lastValues = _groups.Find(epoch, mode) is { } group ? _batch.GetValueOrDefault(group) : null;
        }
        if (_lastValues is not { } medians) return;
        var columns = _header.MedianColumns;
        for (var m = 0; m < columns.Length; m++)
        {
            var v = values[columns[m]];
            if (!double.IsNaN(v)) medians.Add(m, v);
        }
    }

    private void Batch(BatchLogFile file, BatchLogParser parser, List<EpochGroup> groups, byte[] buffer)
    {
        _batch.Clear();
        _lastMode = -1;
        foreach (var g in groups) _batch[g] = new MedianValues(_header.Medians);
        // The groups are ordered by their first line, so the stretch starts with the first group's.
        var end = 0L;
        foreach (var g in groups) end = Math.Max(end, g.LastEnd);
        var reader = new BatchLogReader(file.Path, file.Handle, groups[0].FirstStart, end, buffer);
        while (reader.Next(out var text, out var offset)) parser.Parse(text, offset, this);
        long held = 0;
        foreach (var g in groups)
        {
            var medians = _batch[g];
            g.TakeMedians(medians);
            held += medians.PeakValues;
        }
        PeakValues = Math.Max(PeakValues, held);
        _batch.Clear();
    }

    /// <summary>How many median values the group has: what gathering it costs.</summary>
    private static long Needed(BatchLogHeader header, EpochGroup group)
    {
        long n = 0;
        foreach (var k in header.MedianColumns) n += group.Counts[k];
        return n;
    }
}
