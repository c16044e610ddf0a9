using System.Buffers;
using System.Collections.Frozen;
using System.Globalization;
using System.Numerics;
using System.Runtime.ExceptionServices;
using System.Text;
using Kiln.IO;
using Kiln.Protocol;
using Microsoft.Win32.SafeHandles;

namespace Kiln.Metrics.Epochs;

/// <summary>One row of <c>epoch_log.csv</c>: an (epoch, mode) group, its reduced values and how many batches it had.</summary>
/// <param name="Values">One value per <see cref="EpochTable.Columns"/> entry; null where the group had no value.</param>
public sealed record EpochRow(long Epoch, string Mode, double?[] Values, int Batches);

/// <summary>
/// A trial's batch log reduced to one row per (epoch, mode), in order of first appearance.
/// </summary>
/// <param name="Columns">The reduced columns, in <c>batch_log.csv</c> order; the CSV adds epoch and mode before them and n_batches after.</param>
/// <param name="BatchRows">The batch rows that went into the table.</param>
/// <param name="TornTail">The log ended in a line without its newline (a write in progress), which was left out.</param>
public sealed record EpochTable(string[] Columns, IReadOnlyList<EpochRow> Rows, int BatchRows, bool TornTail)
{
    /// <summary>The value of <paramref name="column"/> in row <paramref name="row"/>.</summary>
    public double? Value(int row, string column)
    {
        var i = Array.IndexOf(Columns, column);
        if (i < 0) throw new ArgumentException($"no column '{column}' (columns: {string.Join(", ", Columns)})", nameof(column));
        return Rows[row].Values[i];
    }
}

/// <summary>
/// Builds a trial's <c>epoch_log.csv</c> from its <c>batch_log.csv</c>: rows grouped by (epoch, mode), each numeric
/// column reduced as <see cref="Reductions"/> says (mean when it is not listed), <c>batch</c> dropped, and the group's
/// row count appended as <c>n_batches</c>. The semantics are pandas's <c>groupby(["epoch", "mode"], sort=False).agg(…)</c>:
/// empty and NaN cells are missing and skipped, a group with no value gets an empty cell, and a column with a cell
/// that is neither a number nor missing is left out.
/// </summary>
public static class EpochLog
{
    private const string UnclosedQuote = "a quoted cell is not closed on its line";

    /// <summary>Column → reduction (<c>mean</c>, <c>last</c>, <c>median</c> or <c>max</c>); unlisted numeric columns take the mean.</summary>
    public static IReadOnlyDictionary<string, string> Reductions { get; } = new Dictionary<string, string>
    {
        ["loss"] = "mean",
        ["acc"] = "mean",
        ["lr"] = "last",
        ["iter_budget"] = "last",
        ["grad_norm"] = "median",
        ["error_min"] = "median",
        ["error_med"] = "median",
        ["error_max"] = "median",
        ["iter_min"] = "median",
        ["iter_med"] = "median",
        ["iter_max"] = "median",
        ["time"] = "max",
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>The reduction applied to a numeric column.</summary>
    public static string ReductionOf(string column) => Reductions.GetValueOrDefault(column, "mean");

    private const string EpochColumn = "epoch";
    private const string ModeColumn = "mode";
    private const string BatchColumn = "batch";
    private const string CountColumn = "n_batches";

    // Fixed, not derived from the core count, so that the sums — and so the table — are the same on any machine.
    internal const int DefaultChunkBytes = 4 << 20;

    // Read past a chunk's end to finish its last line; longer lines read more.
    private const int Slack = 64 << 10;

    /// <summary>Reads <paramref name="batchLogPath"/> and reduces it; bad input is a <see cref="ProtocolException"/> naming the file and line.</summary>
    public static EpochTable Aggregate(string batchLogPath) => Aggregate(batchLogPath, Environment.ProcessorCount, DefaultChunkBytes);

    /// <summary>
    /// The file's data lines are cut into chunks of <paramref name="chunkBytes"/> at line starts, each chunk is reduced
    /// on its own, and the chunks are combined in file order: the result depends on the chunk size but not on
    /// <paramref name="threads"/>.
    /// </summary>
    internal static EpochTable Aggregate(string batchLogPath, int threads, int chunkBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkBytes, 16);
        using var handle = File.OpenHandle(batchLogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        // The length now is the file: a trainer appending meanwhile only adds lines the next read will see.
        var length = RandomAccess.GetLength(handle);
        var layout = ReadHeader(batchLogPath, handle, length, out var dataStart);
        var count = (int)((length - dataStart + chunkBytes - 1) / chunkBytes);
        var chunks = new Chunk[count];
        if (threads <= 1 || count <= 1)
        {
            var scratch = new Scratch();
            for (var i = 0; i < count; i++) chunks[i] = ReadChunk(layout, handle, length, dataStart, i, chunkBytes, scratch);
            scratch.Release();
        }
        else
        {
            try
            {
                Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = threads }, () => new Scratch(),
                    (i, _, scratch) =>
                    {
                        chunks[i] = ReadChunk(layout, handle, length, dataStart, i, chunkBytes, scratch);
                        return scratch;
                    },
                    scratch => scratch.Release());
            }
            catch (AggregateException ex)
            {
                // A failed read is the caller's IOException, not a parallel-loop wrapper.
                ExceptionDispatchInfo.Capture(ex.InnerExceptions[0]).Throw();
            }
        }
        foreach (var chunk in chunks)
        {
            if (chunk.Error is not null)
            {
                throw new ProtocolException($"{batchLogPath} line {LineNumber(handle, chunk.ErrorAt)}: {chunk.Error}");
            }
        }
        return Combine(layout, chunks, threads);
    }

    /// <summary>The table as <c>epoch_log.csv</c>: a header, then one line per row, numbers in round-trip form, missing values empty.</summary>
    public static string ToCsv(EpochTable table)
    {
        var sb = new StringBuilder();
        sb.Append(EpochColumn).Append(',').Append(ModeColumn);
        foreach (var c in table.Columns) sb.Append(',').Append(Quote(c));
        sb.Append(',').Append(CountColumn).Append('\n');
        foreach (var row in table.Rows)
        {
            sb.Append(row.Epoch.ToString(CultureInfo.InvariantCulture)).Append(',').Append(Quote(row.Mode));
            foreach (var v in row.Values)
            {
                sb.Append(',');
                if (v is { } value) sb.Append(CsvNumbers.Format(value));
            }
            sb.Append(',').Append(row.Batches.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>
    /// The trial's epoch table, from <c>epoch_log.csv</c> when it is newer than <c>batch_log.csv</c>; otherwise
    /// (missing, older, unreadable) rebuilt from <c>batch_log.csv</c> and written atomically.
    /// </summary>
    public static EpochTable Ensure(string trialDir)
    {
        var batchPath = Path.Combine(trialDir, RunFiles.BatchLog);
        var epochPath = Path.Combine(trialDir, RunFiles.EpochLog);
        var batchInfo = new FileInfo(batchPath);
        if (!batchInfo.Exists) throw new FileNotFoundException($"{batchPath}: not found; the trial has no {RunFiles.BatchLog}", batchPath);
        // Taken before reading, so that lines appended while we read make the batch log newer than what we write.
        var batchTime = batchInfo.LastWriteTimeUtc;
        var epochInfo = new FileInfo(epochPath);
        if (epochInfo.Exists && epochInfo.LastWriteTimeUtc > batchTime && TryReadCsv(epochPath) is { } cached)
        {
            return cached with { TornTail = TailIsTorn(batchPath) };
        }
        var table = Aggregate(batchPath);
        AtomicFile.WriteAllText(epochPath, ToCsv(table));
        // Stamped just after the batch log it reflects rather than at the time of writing: a line appended between
        // our read and our write then still leaves the batch log newer, and the next call rebuilds.
        File.SetLastWriteTimeUtc(epochPath, batchTime.AddTicks(1));
        if (File.GetLastWriteTimeUtc(epochPath) <= batchTime)
        {
            // A file system too coarse to hold the stamp: the time of writing is the best left.
            File.SetLastWriteTimeUtc(epochPath, DateTime.UtcNow);
        }
        return table;
    }

    // ---- header ----

    private enum Role : byte { Skip, Epoch, Mode, Mean, Last, Median, Max }

    /// <summary>What each batch_log column is for, and the slots of the reduced (candidate) columns.</summary>
    private sealed class Layout
    {
        public required string Path { get; init; }
        public required Role[] Roles { get; init; }
        public required int[] Slots { get; init; }
        public required string[] Candidates { get; init; }
        public required Role[] Kinds { get; init; }
        public required int[] MedianIndex { get; init; }
        public int Medians { get; init; }
    }

    private static Layout ReadHeader(string path, SafeFileHandle handle, long length, out long dataStart)
    {
        var buffer = new byte[(int)Math.Min(length, 4096)];
        var got = 0;
        int newline;
        while ((newline = buffer.AsSpan(0, got).IndexOf((byte)'\n')) < 0)
        {
            if (got == length)
            {
                throw new ProtocolException(length == 0
                    ? $"{path}: the file is empty; a header line naming the columns (epoch, mode, …) is required"
                    : $"{path}: the header line has no newline (torn write?); a complete header is required");
            }
            if (got == buffer.Length) Array.Resize(ref buffer, (int)Math.Min(length, 2L * buffer.Length));
            var n = RandomAccess.Read(handle, buffer.AsSpan(got), got);
            if (n == 0) throw new IOException($"{path}: the file shrank while being read");
            got += n;
        }
        dataStart = newline + 1;
        var line = buffer.AsSpan(0, newline + 1);
        var names = new List<string>();
        var p = line.StartsWith("\uFEFF"u8) ? 3 : 0;
        while (true)
        {
            var end = CsvNumbers.CellEnd(line, p, out var cs, out var ce, out var escaped);
            if (end < 0) throw new ProtocolException($"{path} line 1: a quoted column name is not closed");
            names.Add(escaped ? CsvNumbers.Unescape(line[cs..ce]) : Encoding.UTF8.GetString(line[cs..ce]));
            if (line[end] != (byte)',') break;
            p = end + 1;
        }
        var roles = new Role[names.Count];
        var slots = new int[names.Count];
        var candidates = new List<string>();
        var kinds = new List<Role>();
        var medianIndex = new List<int>();
        var medians = 0;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var j = 0; j < names.Count; j++)
        {
            var name = names[j];
            if (name.Length == 0) throw new ProtocolException($"{path} line 1: column {j + 1} has no name");
            if (!seen.Add(name)) throw new ProtocolException($"{path} line 1: column '{name}' appears twice");
            if (name == CountColumn) throw new ProtocolException($"{path} line 1: column '{CountColumn}' clashes with the count {RunFiles.EpochLog} adds");
            slots[j] = -1;
            roles[j] = name switch
            {
                EpochColumn => Role.Epoch,
                ModeColumn => Role.Mode,
                BatchColumn => Role.Skip,
                _ => ReductionOf(name) switch { "last" => Role.Last, "median" => Role.Median, "max" => Role.Max, _ => Role.Mean },
            };
            if (roles[j] < Role.Mean) continue;
            slots[j] = candidates.Count;
            candidates.Add(name);
            kinds.Add(roles[j]);
            medianIndex.Add(roles[j] == Role.Median ? medians++ : -1);
        }
        foreach (var required in new[] { EpochColumn, ModeColumn })
        {
            if (!seen.Contains(required))
            {
                throw new ProtocolException($"{path} line 1: the header has no '{required}' column (columns: {string.Join(", ", names)})");
            }
        }
        return new Layout
        {
            Path = path, Roles = roles, Slots = slots, Candidates = [.. candidates], Kinds = [.. kinds],
            MedianIndex = [.. medianIndex], Medians = medians,
        };
    }

    // ---- chunks ----

    /// <summary>A growable run of doubles: one group's values of one median column.</summary>
    /// <remarks>
    /// The arrays come from the shared pool and go back once the medians are taken: a large log holds one value per
    /// row and median column until then, and fresh arrays of that size would cost full garbage collections.
    /// </remarks>
    private sealed class Values
    {
        public double[] Items = ArrayPool<double>.Shared.Rent(256);
        public int Count;

        public void Add(double v)
        {
            if (Count == Items.Length) Grow();
            Items[Count++] = v;
        }

        private void Grow()
        {
            var larger = ArrayPool<double>.Shared.Rent(2 * Count);
            Array.Copy(Items, larger, Count);
            ArrayPool<double>.Shared.Return(Items);
            Items = larger;
        }

        public void Release()
        {
            ArrayPool<double>.Shared.Return(Items);
            Items = [];
            Count = 0;
        }
    }

    /// <summary>An (epoch, mode) group's partial reduction within a chunk, or over the whole file.</summary>
    private sealed class Group
    {
        public Group(long epoch, string mode, int candidates, int medians)
        {
            Epoch = epoch;
            Mode = mode;
            Acc = new double[candidates];
            Counts = new int[candidates];
            Medians = new Values[medians];
        }

        public long Epoch { get; }
        public string Mode { get; }
        public int Rows;
        public readonly double[] Acc;
        public readonly int[] Counts;
        public readonly Values[] Medians;
        public List<Group>? Parts;
    }

    private sealed class Chunk
    {
        public readonly List<Group> Groups = [];
        public bool[] Bad = [];
        public int Rows;
        public bool Torn;
        public string? Error;
        public long ErrorAt;
    }

    /// <summary>A worker's read buffer, reused across its chunks and pooled across calls (fresh pages are slow to touch).</summary>
    private sealed class Scratch
    {
        public byte[] Buffer = [];

        public void Grow(int size)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(size, 2 * Buffer.Length));
            Buffer.AsSpan().CopyTo(larger);
            Release();
            Buffer = larger;
        }

        public void Release()
        {
            if (Buffer.Length > 0) ArrayPool<byte>.Shared.Return(Buffer);
            Buffer = [];
        }
    }

    private static Chunk ReadChunk(Layout layout, SafeFileHandle handle, long length, long dataStart, int index, int chunkBytes, Scratch scratch)
    {
        var chunk = new Chunk { Bad = new bool[layout.Candidates.Length] };
        var nominalStart = dataStart + (long)index * chunkBytes;
        var nominalEnd = Math.Min(length, nominalStart + chunkBytes);
        // From one byte early: a line starts at the chunk's first byte exactly when that byte follows a newline.
        var from = index == 0 ? nominalStart : nominalStart - 1;
        var got = Fill(layout.Path, handle, scratch, from, 0, (int)(Math.Min(length, nominalEnd + Slack) - from));
        var buffer = scratch.Buffer;
        int first;
        if (index == 0) first = 0;
        else
        {
            var newline = buffer.AsSpan(0, got).IndexOf((byte)'\n');
            if (newline < 0 || from + newline + 1 >= nominalEnd) return chunk;
            first = newline + 1;
        }
        // The chunk owns the lines that start before its nominal end; the last of them ends at the first newline
        // from nominalEnd - 1 on.
        var searchFrom = (int)(nominalEnd - 1 - from);
        var end = -1;
        while (true)
        {
            var newline = buffer.AsSpan(searchFrom, got - searchFrom).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                end = searchFrom + newline + 1;
                break;
            }
            if (from + got >= length) break;
            searchFrom = got;
            got += Fill(layout.Path, handle, scratch, from + got, got, (int)Math.Min(length - from - got, Math.Max(Slack, got)));
            buffer = scratch.Buffer;
        }
        if (end < 0)
        {
            // No newline to the end of the file: its last line is a write in progress.
            var lastNewline = buffer.AsSpan(first, (int)(nominalEnd - 1 - from) - first).LastIndexOf((byte)'\n');
            end = lastNewline < 0 ? first : first + lastNewline + 1;
            chunk.Torn = from + end < length;
        }
        Parse(layout, buffer.AsSpan(0, end), first, from, chunk);
        return chunk;
    }

    /// <summary>Reads <paramref name="count"/> bytes at file offset <paramref name="offset"/> into the scratch buffer at <paramref name="at"/>.</summary>
    private static int Fill(string path, SafeFileHandle handle, Scratch scratch, long offset, int at, int count)
    {
        if (scratch.Buffer.Length < at + count) scratch.Grow(at + count);
        var done = 0;
        while (done < count)
        {
            var n = RandomAccess.Read(handle, scratch.Buffer.AsSpan(at + done, count - done), offset + done);
            if (n == 0) throw new IOException($"{path}: the file shrank while being read");
            done += n;
        }
        return count;
    }

    /// <summary>Reduces the lines of <paramref name="text"/> from <paramref name="p"/> on; every line ends with a newline.</summary>
    private static void Parse(Layout layout, ReadOnlySpan<byte> text, int p, long textOffset, Chunk chunk)
    {
        var roles = (Role[])layout.Roles.Clone();
        var slots = layout.Slots;
        var columns = roles.Length;
        var last = columns - 1;
        var values = new double[layout.Candidates.Length];
        var modes = new List<byte[]>();
        var groups = new Dictionary<(long, int), Group>();
        Group? group = null;
        var groupMode = -1;
        byte[] modeBytes = [];
        while (p < text.Length)
        {
            var lineStart = p;
            if (text[p] is (byte)'\n' or (byte)'\r' or (byte)' ' or (byte)'\t' && IsBlank(text, ref p)) continue;
            long epoch = 0;
            var mode = -1;
            for (var j = 0; j < columns; j++)
            {
                var cell = p;
                switch (roles[j])
                {
                    case Role.Skip:
                        p = CsvNumbers.CellEnd(text, p, out _, out _, out _);
                        if (p < 0)
                        {
                            Fail(chunk, textOffset + lineStart, UnclosedQuote);
                            return;
                        }
                        break;
                    case Role.Epoch:
                    {
                        var q = p;
                        var negative = text[q] == (byte)'-';
                        if (negative) q++;
                        var digits = q;
                        uint d;
                        while ((d = (uint)(text[q] - '0')) <= 9 && q - digits < 18)
                        {
                            epoch = epoch * 10 + d;
                            q++;
                        }
                        if (q > digits && IsTerminator(text, q))
                        {
                            if (negative) epoch = -epoch;
                            p = q;
                            break;
                        }
                        p = CsvNumbers.CellEnd(text, cell, out var cs, out var ce, out _);
                        if (p < 0 || !CsvNumbers.TryParseInteger(text[cs..ce], out epoch))
                        {
                            Fail(chunk, textOffset + lineStart, $"epoch '{CsvNumbers.Show(text[cell..(p < 0 ? cell + text[cell..].IndexOf((byte)'\n') : p)])}' is not an integer");
                            return;
                        }
                        break;
                    }
                    case Role.Mode:
                    {
                        // Rows of a group come in runs: compare with the previous row's mode before anything else.
                        var n = modeBytes.Length;
                        if (groupMode >= 0 && p + n < text.Length && text.Slice(p, n).SequenceEqual(modeBytes) && IsTerminator(text, p + n))
                        {
                            mode = groupMode;
                            p += n;
                            break;
                        }
                        p = CsvNumbers.CellEnd(text, cell, out var cs, out var ce, out var escaped);
                        if (p < 0)
                        {
                            Fail(chunk, textOffset + lineStart, UnclosedQuote);
                            return;
                        }
                        var content = escaped ? Encoding.UTF8.GetBytes(CsvNumbers.Unescape(text[cs..ce])) : text[cs..ce];
                        if (content.IsEmpty)
                        {
                            Fail(chunk, textOffset + lineStart, "the mode is empty");
                            return;
                        }
                        mode = IndexOf(modes, content);
                        if (mode < 0)
                        {
                            mode = modes.Count;
                            modes.Add(content.ToArray());
                        }
                        break;
                    }
                    default:
                    {
                        var n = CsvNumbers.ParsePrefix(text[p..], out var v);
                        if (n > 0 && IsTerminator(text, p + n))
                        {
                            values[slots[j]] = v;
                            p += n;
                            break;
                        }
                        p = CsvNumbers.CellEnd(text, cell, out var cs, out var ce, out var escaped);
                        if (p < 0)
                        {
                            Fail(chunk, textOffset + lineStart, UnclosedQuote);
                            return;
                        }
                        var content = text[cs..ce];
                        if (CsvNumbers.IsMissing(content)) values[slots[j]] = double.NaN;
                        else if (!escaped && CsvNumbers.TryParseCell(content, out v)) values[slots[j]] = v;
                        else
                        {
                            // Not a number: pandas would read the column as text, which no numeric reduction takes.
                            chunk.Bad[slots[j]] = true;
                            roles[j] = Role.Skip;
                            values[slots[j]] = double.NaN;
                        }
                        break;
                    }
                }
                if (j < last)
                {
                    if (text[p] != (byte)',')
                    {
                        Fail(chunk, textOffset + lineStart, CellCount(text, lineStart, columns));
                        return;
                    }
                    p++;
                }
                else
                {
                    if (text[p] == (byte)'\r' && text[p + 1] == (byte)'\n') p++;
                    if (text[p] != (byte)'\n')
                    {
                        Fail(chunk, textOffset + lineStart, CellCount(text, lineStart, columns));
                        return;
                    }
                    p++;
                }
            }
            if (group is null || mode != groupMode || epoch != group.Epoch)
            {
                if (!groups.TryGetValue((epoch, mode), out group))
                {
                    group = new Group(epoch, Encoding.UTF8.GetString(modes[mode]), values.Length, layout.Medians);
                    for (var m = 0; m < layout.Medians; m++) group.Medians[m] = new Values();
                    groups.Add((epoch, mode), group);
                    chunk.Groups.Add(group);
                }
                groupMode = mode;
                modeBytes = modes[mode];
            }
            Accumulate(layout, group, values);
            chunk.Rows++;
        }
    }

    private static void Accumulate(Layout layout, Group group, double[] values)
    {
        group.Rows++;
        var kinds = layout.Kinds;
        var acc = group.Acc;
        var counts = group.Counts;
        for (var k = 0; k < values.Length; k++)
        {
            var v = values[k];
            if (double.IsNaN(v)) continue;
            switch (kinds[k])
            {
                case Role.Mean:
                    acc[k] += v;
                    break;
                case Role.Last:
                    acc[k] = v;
                    break;
                case Role.Max:
                    if (counts[k] == 0 || v > acc[k]) acc[k] = v;
                    break;
                default:
                    group.Medians[layout.MedianIndex[k]].Add(v);
                    break;
            }
            counts[k]++;
        }
    }

    private static int IndexOf(List<byte[]> modes, ReadOnlySpan<byte> mode)
    {
        for (var i = 0; i < modes.Count; i++)
        {
            if (mode.SequenceEqual(modes[i])) return i;
        }
        return -1;
    }

    private static bool IsTerminator(ReadOnlySpan<byte> text, int i) =>
        text[i] is (byte)',' or (byte)'\n' || (text[i] == (byte)'\r' && text[i + 1] == (byte)'\n');

    /// <summary>Skips the line at <paramref name="p"/> when it holds nothing but blanks.</summary>
    private static bool IsBlank(ReadOnlySpan<byte> text, ref int p)
    {
        var q = p;
        while (text[q] is (byte)' ' or (byte)'\t' or (byte)'\r') q++;
        if (text[q] != (byte)'\n') return false;
        p = q + 1;
        return true;
    }

    private static string CellCount(ReadOnlySpan<byte> text, int lineStart, int columns)
    {
        var cells = 1;
        var p = lineStart;
        while (true)
        {
            var end = CsvNumbers.CellEnd(text, p, out _, out _, out _);
            if (end < 0) return UnclosedQuote;
            if (text[end] != (byte)',') break;
            cells++;
            p = end + 1;
        }
        return $"the line has {cells} cells but the header has {columns}";
    }

    private static void Fail(Chunk chunk, long at, string message)
    {
        chunk.Error = message;
        chunk.ErrorAt = at;
    }

    /// <summary>The 1-based line number of the line starting at byte <paramref name="offset"/>.</summary>
    private static long LineNumber(SafeFileHandle handle, long offset)
    {
        var buffer = new byte[1 << 20];
        long line = 1;
        for (long at = 0; at < offset;)
        {
            var n = RandomAccess.Read(handle, buffer.AsSpan(0, (int)Math.Min(buffer.Length, offset - at)), at);
            if (n == 0) break;
            line += buffer.AsSpan(0, n).Count((byte)'\n');
            at += n;
        }
        return line;
    }

    // ---- combining ----

    private static EpochTable Combine(Layout layout, Chunk[] chunks, int threads)
    {
        var candidates = layout.Candidates.Length;
        var bad = new bool[candidates];
        var groups = new List<Group>();
        var index = new Dictionary<(long, string), Group>();
        var rows = 0;
        var torn = false;
        foreach (var chunk in chunks)
        {
            rows += chunk.Rows;
            torn |= chunk.Torn;
            for (var k = 0; k < candidates; k++) bad[k] |= chunk.Bad[k];
            foreach (var part in chunk.Groups)
            {
                if (!index.TryGetValue((part.Epoch, part.Mode), out var whole))
                {
                    whole = new Group(part.Epoch, part.Mode, candidates, 0) { Parts = [] };
                    index.Add((part.Epoch, part.Mode), whole);
                    groups.Add(whole);
                }
                Merge(layout, whole, part);
            }
        }
        var kept = Enumerable.Range(0, candidates).Where(k => !bad[k]).ToArray();
        var table = new double?[groups.Count][];
        for (var g = 0; g < groups.Count; g++)
        {
            var whole = groups[g];
            var row = table[g] = new double?[kept.Length];
            for (var c = 0; c < kept.Length; c++)
            {
                var k = kept[c];
                if (whole.Counts[k] == 0 || layout.Kinds[k] == Role.Median) continue;
                var v = layout.Kinds[k] == Role.Mean ? whole.Acc[k] / whole.Counts[k] : whole.Acc[k];
                // inf − inf: pandas writes the NaN as an empty cell, so it reads back as missing.
                row[c] = double.IsNaN(v) ? null : v;
            }
        }
        var medianCells = new List<(int Group, int Column, int Median)>();
        for (var g = 0; g < groups.Count; g++)
        {
            for (var c = 0; c < kept.Length; c++)
            {
                var k = kept[c];
                if (layout.Kinds[k] == Role.Median && groups[g].Counts[k] > 0) medianCells.Add((g, c, layout.MedianIndex[k]));
            }
        }
        Parallel.For(0, medianCells.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) }, i =>
        {
            var (g, c, m) = medianCells[i];
            var v = Median(groups[g].Parts!.ConvertAll(part => part.Medians[m]));
            table[g][c] = double.IsNaN(v) ? null : v;
        });
        foreach (var chunk in chunks)
        {
            foreach (var part in chunk.Groups)
            {
                foreach (var values in part.Medians) values.Release();
            }
        }
        var result = new EpochRow[groups.Count];
        for (var g = 0; g < groups.Count; g++) result[g] = new EpochRow(groups[g].Epoch, groups[g].Mode, table[g], groups[g].Rows);
        return new EpochTable([.. kept.Select(k => layout.Candidates[k])], result, rows, torn);
    }

    private static void Merge(Layout layout, Group whole, Group part)
    {
        whole.Rows += part.Rows;
        whole.Parts!.Add(part);
        for (var k = 0; k < whole.Acc.Length; k++)
        {
            if (part.Counts[k] == 0) continue;
            switch (layout.Kinds[k])
            {
                case Role.Mean:
                    whole.Acc[k] += part.Acc[k];
                    break;
                case Role.Last:
                    whole.Acc[k] = part.Acc[k];
                    break;
                case Role.Max:
                    if (whole.Counts[k] == 0 || part.Acc[k] > whole.Acc[k]) whole.Acc[k] = part.Acc[k];
                    break;
            }
            whole.Counts[k] += part.Counts[k];
        }
    }

    /// <summary>
    /// The median as pandas takes it — the middle value, or the mean of the two middle values — of the values spread
    /// over a group's chunks, without gathering them: a histogram of their order-preserving bit patterns finds the
    /// narrow range that holds the middle, and only that range is copied out and searched.
    /// </summary>
    private static double Median(List<Values> parts)
    {
        var n = 0;
        var lowest = ulong.MaxValue;
        var highest = 0UL;
        foreach (var part in parts)
        {
            n += part.Count;
            foreach (var v in part.Items.AsSpan(0, part.Count))
            {
                var key = Key(v);
                lowest = Math.Min(lowest, key);
                highest = Math.Max(highest, key);
            }
        }
        if (lowest == highest) return FromKey(lowest);
        // At most 4,096 buckets: small enough to stay in the first-level cache.
        var shift = Math.Max(0, 64 - BitOperations.LeadingZeroCount(highest - lowest) - 12);
        var histogram = new int[(int)((highest - lowest) >> shift) + 1];
        foreach (var part in parts)
        {
            foreach (var v in part.Items.AsSpan(0, part.Count)) histogram[(int)((Key(v) - lowest) >> shift)]++;
        }
        var k = n / 2;
        var bucket = 0;
        var before = 0;
        while (before + histogram[bucket] <= k) before += histogram[bucket++];
        var buffer = ArrayPool<double>.Shared.Rent(histogram[bucket]);
        var filled = 0;
        foreach (var part in parts)
        {
            foreach (var v in part.Items.AsSpan(0, part.Count))
            {
                if ((int)((Key(v) - lowest) >> shift) == bucket) buffer[filled++] = v;
            }
        }
        var inBucket = buffer.AsSpan(0, filled);
        var upper = Select(inBucket, k - before);
        double result;
        if (n % 2 == 1) result = upper;
        else
        {
            // The lower middle is the k-1-th: before the upper one in its bucket, or the largest below the bucket.
            var lower = ulong.MinValue;
            if (k > before)
            {
                foreach (var v in inBucket[..(k - before)]) lower = Math.Max(lower, Key(v));
            }
            else
            {
                foreach (var part in parts)
                {
                    foreach (var v in part.Items.AsSpan(0, part.Count))
                    {
                        if ((int)((Key(v) - lowest) >> shift) < bucket) lower = Math.Max(lower, Key(v));
                    }
                }
            }
            result = (upper + FromKey(lower)) / 2;
        }
        ArrayPool<double>.Shared.Return(buffer);
        return result;
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

    // ---- the cached epoch_log.csv ----

    private static bool TailIsTorn(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var length = RandomAccess.GetLength(handle);
        if (length == 0) return false;
        Span<byte> lastByte = stackalloc byte[1];
        return RandomAccess.Read(handle, lastByte, length - 1) == 1 && lastByte[0] != (byte)'\n';
    }

    /// <summary>Reads a table written by <see cref="ToCsv"/>; null when the file is not one (it is then rebuilt).</summary>
    private static EpochTable? TryReadCsv(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
        if (bytes.Length == 0 || bytes[^1] != (byte)'\n') return null;
        var text = bytes.AsSpan();
        var lines = new List<List<string>>();
        for (var p = 0; p < text.Length;)
        {
            var cells = new List<string>();
            while (true)
            {
                var end = CsvNumbers.CellEnd(text, p, out var cs, out var ce, out var escaped);
                if (end < 0) return null;
                cells.Add(escaped ? CsvNumbers.Unescape(text[cs..ce]) : Encoding.UTF8.GetString(text[cs..ce]));
                p = end + 1;
                if (text[end] == (byte)',') continue;
                if (text[end] == (byte)'\r') p++;
                break;
            }
            lines.Add(cells);
        }
        var header = lines[0];
        if (header.Count < 3 || header[0] != EpochColumn || header[1] != ModeColumn || header[^1] != CountColumn) return null;
        var columns = header.GetRange(2, header.Count - 3).ToArray();
        var rows = new List<EpochRow>();
        var batches = 0;
        foreach (var cells in lines.Skip(1))
        {
            if (cells.Count != header.Count) return null;
            if (!long.TryParse(cells[0], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var epoch)) return null;
            if (!int.TryParse(cells[^1], NumberStyles.None, CultureInfo.InvariantCulture, out var count)) return null;
            var values = new double?[columns.Length];
            for (var c = 0; c < columns.Length; c++)
            {
                var cell = cells[c + 2];
                if (cell.Length == 0) continue;
                if (!double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)) return null;
                values[c] = v;
            }
            rows.Add(new EpochRow(epoch, cells[1], values, count));
            batches += count;
        }
        return new EpochTable(columns, rows, batches, false);
    }

    private static string Quote(string cell) =>
        cell.AsSpan().IndexOfAny(",\"\r\n") < 0 && cell.Trim().Length == cell.Length
            ? cell
            : "\"" + cell.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
