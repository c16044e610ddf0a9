using System.Runtime.ExceptionServices;
using Kiln.Protocol;

namespace Kiln.Metrics.Epochs;

/// <summary>
/// One reduction of a <c>batch_log.csv</c> into an <see cref="EpochTable"/>, streaming: the data lines are cut into
/// stretches of about <see cref="SegmentBytes"/> (<see cref="BatchLogSegment"/>), reduced by up to
/// <see cref="Threads"/> threads, each reading through a buffer of <see cref="BufferBytes"/> and holding one group's
/// median values at a time, and merged in file order; groups that turn out to be spread over the log have their
/// medians gathered again (<see cref="SplitGroupMedians"/>). What it held at most is reported, so tests can pin that
/// it does not grow with the file.
/// </summary>
/// <remarks>
/// The methods that run per cell or per row (the parser's, the number reader's, the groups', the median's) are marked
/// <see cref="System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization"/>: compiled fully optimised at
/// their first call. Their precompiled (ReadyToRun) code reaches static data through indirections and stays in use
/// until tiering replaces it, which is most of a command's life: the whole <c>kiln trials epochs</c> process takes a
/// fifth less time this way.
/// </remarks>
internal sealed class EpochAggregation
{
    /// <summary>Large enough that reads are few, small enough to stay in the second-level cache while parsed.</summary>
    public const int DefaultBufferBytes = 256 << 10;

    /// <summary>Stretches that keep two threads evenly busy on a log of 10⁶ rows (160 MB).</summary>
    public const long DefaultSegmentBytes = 16 << 20;

    /// <summary>Median values gathered at once for groups whose rows are spread over the log: 8 MB.</summary>
    public const long DefaultMedianBudget = 1 << 20;

    public int BufferBytes { get; init; } = DefaultBufferBytes;
    public long SegmentBytes { get; init; } = DefaultSegmentBytes;
    public long MedianBudget { get; init; } = DefaultMedianBudget;

    /// <summary>Threads that reduce stretches; the table is the same for any number.</summary>
    public int Threads { get; init; } = Math.Clamp(Environment.ProcessorCount, 1, 8);

    /// <summary>The bytes of read buffer one thread held at most (more than asked only for a longer line).</summary>
    public long PeakBufferBytes { get; private set; }

    /// <summary>The median values one thread held at most at once.</summary>
    public long PeakMedianValues { get; private set; }

    /// <summary>Reads and reduces <paramref name="path"/>; bad input is a <see cref="ProtocolException"/> naming the file and line.</summary>
    public EpochTable Run(string path)
    {
        using var file = BatchLogFile.Open(path, out var header);
        var count = (int)Math.Max(1, (file.DataEnd - file.DataStart + SegmentBytes - 1) / SegmentBytes);
        var cuts = new long[count + 1];
        cuts[0] = file.DataStart;
        cuts[count] = file.DataEnd;
        for (var i = 1; i < count; i++) cuts[i] = Math.Min(file.DataEnd, file.LineStartAtOrAfter(file.DataStart + i * SegmentBytes));
        var segments = new BatchLogSegment[count];
        var scratches = new Stack<ReadScratch>();
        void Read(int i)
        {
            ReadScratch? scratch;
            lock (scratches) scratches.TryPop(out scratch);
            // The buffer need not be larger than the log's data.
            scratch ??= new ReadScratch(new byte[Math.Clamp(file.DataEnd - file.DataStart, 16, BufferBytes)], new MedianValues(header.Medians));
            segments[i] = BatchLogSegment.Read(file, header, cuts[i], cuts[i + 1], scratch);
            lock (scratches) scratches.Push(scratch);
        }
        if (Threads <= 1 || count == 1)
        {
            for (var i = 0; i < count; i++) Read(i);
        }
        else
        {
            try
            {
                Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = Threads }, Read);
            }
            catch (AggregateException ex)
            {
                // A failed read is the caller's IOException, not a parallel-loop wrapper.
                ExceptionDispatchInfo.Capture(ex.InnerExceptions[0]).Throw();
            }
        }
        // Stretches are in file order, so the first one that failed holds the first bad row.
        foreach (var segment in segments)
        {
            if (segment.Error is { } error) throw Bad(file, error);
        }
        var modes = new ModeNames();
        var bad = new bool[header.Reduced.Length];
        var groups = new EpochGroups(header);
        foreach (var segment in segments)
        {
            groups.Merge(segment.Groups, segment.Modes, modes);
            for (var k = 0; k < bad.Length; k++) bad[k] |= segment.Parser.Bad[k];
        }
        foreach (var scratch in scratches)
        {
            PeakBufferBytes = Math.Max(PeakBufferBytes, scratch.Buffer.Length);
            PeakMedianValues = Math.Max(PeakMedianValues, scratch.Medians.PeakValues);
        }
        try
        {
            var split = SplitGroupMedians.Gather(file, header, modes, bad, groups, MedianBudget, scratches.Peek().Buffer);
            PeakMedianValues = Math.Max(PeakMedianValues, split.PeakValues);
        }
        catch (BadRowException error)
        {
            // Read before without fault: the file was rewritten in place meanwhile.
            throw Bad(file, error);
        }
        return Table(header, modes, bad, groups, file.DataEnd < file.Length);
    }

    private static ProtocolException Bad(BatchLogFile file, BadRowException error) =>
        new($"{file.Path} line {file.LineNumber(error.Offset)}: {error.Message}");

    private static EpochTable Table(BatchLogHeader header, ModeNames modes, bool[] bad, EpochGroups groups, bool torn)
    {
        var kept = new List<int>();
        for (var k = 0; k < bad.Length; k++)
        {
            if (!bad[k]) kept.Add(k);
        }
        var columns = new string[kept.Count];
        for (var c = 0; c < columns.Length; c++) columns[c] = header.Reduced[kept[c]];
        var rows = new EpochRow[groups.Count];
        for (var g = 0; g < rows.Length; g++)
        {
            var group = groups[g];
            var values = new double?[kept.Count];
            for (var c = 0; c < values.Length; c++) values[c] = group.Value(header, kept[c]);
            rows[g] = new EpochRow(group.Epoch, modes.Name(group.Mode), values, group.Rows);
        }
        return new EpochTable(columns, rows, groups.Rows, torn);
    }
}
