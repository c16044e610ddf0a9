namespace Kiln.Metrics.Epochs;

/// <summary>
/// One stretch of a batch log's data lines, reduced on its own: the lines starting within its nominal byte range,
/// with the cut moved to where a group's run of rows ends, so that no run is shared by two stretches. A run that
/// crosses the nominal end stays whole in the stretch where it began; the next stretch skips it. Stretches can then
/// be reduced in parallel, each holding one group's values at a time, and merged in order: every run's rows are
/// added in file order within one stretch, so the table depends on the stretch size but not on the threads.
/// </summary>
internal sealed class BatchLogSegment
{
    private readonly BatchLogFile _file;
    private readonly ReadScratch _scratch;
    private readonly EpochAccumulator _rows;

    private BatchLogSegment(BatchLogFile file, BatchLogHeader header, ReadScratch scratch)
    {
        _file = file;
        _scratch = scratch;
        Modes = new ModeNames();
        Parser = new BatchLogParser(header, Modes);
        _rows = new EpochAccumulator(header, scratch.Medians);
    }

    /// <summary>This stretch's modes: its groups' mode numbers are these.</summary>
    public ModeNames Modes { get; }

    public BatchLogParser Parser { get; }
    public EpochGroups Groups => _rows.Groups;

    /// <summary>The first bad row of the stretch, if any (the rows after it are not read).</summary>
    public BadRowException? Error { get; private set; }

    /// <summary>
    /// Reduces the lines starting in <c>[start, end)</c>, both line starts, moved to the ends of runs, with the buffer
    /// and median values of <paramref name="scratch"/>.
    /// </summary>
    public static BatchLogSegment Read(BatchLogFile file, BatchLogHeader header, long start, long end, ReadScratch scratch)
    {
        var segment = new BatchLogSegment(file, header, scratch);
        try
        {
            // The run going on at the start belongs to the stretch before.
            if (segment.TryRunBefore(start, out var epoch, out var mode)) start = segment.RunEnd(start, epoch, mode);
            if (start < end)
            {
                segment.Parse(start, end);
                if (end < file.DataEnd && segment._rows.Current is { } last)
                {
                    segment.Parse(end, segment.RunEnd(end, last.Epoch, segment.Modes.Bytes(last.Mode)));
                }
            }
        }
        catch (BadRowException ex)
        {
            segment.Error = ex;
        }
        segment._rows.Close();
        return segment;
    }

    private void Parse(long start, long end)
    {
        var reader = new BatchLogReader(_file.Path, _file.Handle, start, end, _scratch.Buffer);
        while (reader.Next(out var text, out var offset)) Parser.Parse(text, offset, new EpochAccumulator.Sink(_rows));
        _scratch.Buffer = reader.Buffer;
    }

    /// <summary>The offset of the first line from <paramref name="start"/> on that is not blank and not of the group (epoch, mode).</summary>
    private long RunEnd(long start, long epoch, ReadOnlySpan<byte> mode)
    {
        var reader = new BatchLogReader(_file.Path, _file.Handle, start, _file.DataEnd, _scratch.Buffer);
        while (reader.Next(out var text, out var offset))
        {
            for (var p = 0; p < text.Length;)
            {
                var line = text[p..(p + text[p..].IndexOf((byte)'\n') + 1)];
                if (!BatchLogParser.IsBlank(line) && !(Parser.TryReadKey(line, out var e, out var m) && e == epoch && m.SequenceEqual(mode)))
                {
                    _scratch.Buffer = reader.Buffer;
                    return offset + p;
                }
                p += line.Length;
            }
        }
        _scratch.Buffer = reader.Buffer;
        return _file.DataEnd;
    }

    /// <summary>The group of the last row before <paramref name="start"/>; false at the first row or when that row cannot be read.</summary>
    private bool TryRunBefore(long start, out long epoch, out byte[] mode)
    {
        for (var at = start; at > _file.DataStart;)
        {
            var line = _file.LineBefore(at);
            if (!BatchLogParser.IsBlank(line))
            {
                var known = Parser.TryReadKey(line, out epoch, out var content);
                mode = content.ToArray();
                return known;
            }
            at -= line.Length;
        }
        epoch = 0;
        mode = [];
        return false;
    }
}
