using System.Runtime.CompilerServices;
using System.Text;

namespace Kiln.Metrics.Epochs;

/// <summary>
/// Turns a batch log's lines into rows — epoch, mode and the reduced columns' values — checked against the header:
/// a row with another number of cells, an epoch that is not an integer, an empty mode or an unclosed quote is a
/// <see cref="BadRowException"/> naming the line's offset and the value. Blank lines are skipped. A reduced column's
/// cell that is neither a number nor missing marks the column <see cref="Bad"/> (pandas would read it as text, which
/// no numeric reduction takes) and the column is not read again.
/// </summary>
internal sealed class BatchLogParser
{
    private const string UnclosedQuote = "a quoted cell is not closed on its line";

    private readonly BatchLogHeader _header;
    private readonly ColumnRole[] _roles;
    private readonly double[] _values;
    // The previous row's mode, compared first: rows of a group come in runs.
    private int _lastMode = -1;
    private byte[] _lastModeBytes = [];

    public BatchLogParser(BatchLogHeader header, ModeNames modes)
    {
        _header = header;
        _roles = (ColumnRole[])header.Roles.Clone();
        _values = new double[header.Reduced.Length];
        Bad = new bool[header.Reduced.Length];
        Modes = modes;
    }

    /// <summary>Per reduced column: a cell held text, so the column is left out of the table.</summary>
    public bool[] Bad { get; }

    public ModeNames Modes { get; }

    /// <summary>From now on reads only the keys and the columns that take the median, except those known <paramref name="bad"/>.</summary>
    public void ReadOnlyMedians(bool[] bad)
    {
        for (var j = 0; j < _roles.Length; j++)
        {
            var slot = _header.Slots[j];
            if (slot >= 0 && (_roles[j] != ColumnRole.Median || bad[slot])) _roles[j] = ColumnRole.Skip;
        }
    }

    /// <summary>
    /// Reads the lines of <paramref name="text"/>, which ends with a newline and starts at file offset
    /// <paramref name="offset"/>. Generic so that a struct sink gets a loop of its own, its row call inlined.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Parse<TSink>(ReadOnlySpan<byte> text, long offset, TSink sink)
        where TSink : IBatchRowSink
    {
        var roles = _roles;
        var slots = _header.Slots;
        var values = _values;
        var columns = roles.Length;
        var last = columns - 1;
        var p = 0;
        while (p < text.Length)
        {
            var lineStart = p;
            if (text[p] is (byte)'\n' or (byte)'\r' or (byte)' ' or (byte)'\t' && IsBlank(text, ref p)) continue;
            var at = offset + lineStart;
            long epoch = 0;
            var mode = -1;
            for (var j = 0; j < columns; j++)
            {
                var role = roles[j];
                // Numbers first: nearly every cell is one.
                if (role >= ColumnRole.Mean) p = ReadNumber(text, p, at, j, slots[j]);
                else if (role == ColumnRole.Skip)
                {
                    p = CsvCells.CellEnd(text, p, out _, out _, out _);
                    if (p < 0) throw new BadRowException(at, UnclosedQuote);
                }
                else if (role == ColumnRole.Epoch) p = ReadEpoch(text, p, at, out epoch);
                else p = ReadMode(text, p, at, out mode);
                if (j < last)
                {
                    if (text[p] != (byte)',') throw new BadRowException(at, CellCount(text, lineStart, columns));
                    p++;
                }
                else
                {
                    if (text[p] == (byte)'\r' && text[p + 1] == (byte)'\n') p++;
                    if (text[p] != (byte)'\n') throw new BadRowException(at, CellCount(text, lineStart, columns));
                    p++;
                }
            }
            sink.Row(epoch, mode, values, at, offset + p);
        }
    }

    /// <summary>Reads the number cell at <paramref name="p"/> of column <paramref name="j"/> into its slot; returns the index of its terminator.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int ReadNumber(ReadOnlySpan<byte> text, int p, long at, int j, int slot)
    {
        var n = CsvNumbers.ParsePrefix(text[p..], out var v);
        if (n > 0 && CsvCells.IsTerminator(text, p + n))
        {
            _values[slot] = v;
            return p + n;
        }
        return ReadOtherNumber(text, p, at, j, slot);
    }

    /// <summary>A number cell the fast path did not take: quoted, blank, missing, unusual, or text.</summary>
    private int ReadOtherNumber(ReadOnlySpan<byte> text, int p, long at, int j, int slot)
    {
        var end = CsvCells.CellEnd(text, p, out var cs, out var ce, out var escaped);
        if (end < 0) throw new BadRowException(at, UnclosedQuote);
        var content = text[cs..ce];
        if (CsvNumbers.IsMissing(content)) _values[slot] = double.NaN;
        else if (!escaped && CsvNumbers.TryParseCell(content, out var v)) _values[slot] = v;
        else
        {
            Bad[slot] = true;
            _roles[j] = ColumnRole.Skip;
            _values[slot] = double.NaN;
        }
        return end;
    }

    /// <summary>
    /// The group key of <paramref name="line"/> (ending with its newline) without reading the rest of it: false for a
    /// blank line or one whose key is not readable.
    /// </summary>
    public bool TryReadKey(ReadOnlySpan<byte> line, out long epoch, out ReadOnlySpan<byte> mode)
    {
        epoch = 0;
        mode = default;
        var p = 0;
        if (IsBlank(line, ref p)) return false;
        var found = 0;
        for (var j = 0; j < _roles.Length && found < 2; j++)
        {
            var end = CsvCells.CellEnd(line, p, out var cs, out var ce, out var escaped);
            if (end < 0) return false;
            if (_header.Roles[j] == ColumnRole.Epoch)
            {
                if (!CsvNumbers.TryParseInteger(line[cs..ce], out epoch)) return false;
                found++;
            }
            else if (_header.Roles[j] == ColumnRole.Mode)
            {
                mode = escaped ? Encoding.UTF8.GetBytes(CsvCells.Unescape(line[cs..ce])) : line[cs..ce];
                if (mode.Length == 0) return false;
                found++;
            }
            if (line[end] != (byte)',') break;
            p = end + 1;
        }
        return found == 2;
    }

    /// <summary>Reads the epoch cell at <paramref name="p"/>; returns the index of its terminator.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int ReadEpoch(ReadOnlySpan<byte> text, int p, long at, out long epoch)
    {
        // Plain digits take the fast path; signs, blanks and quotes the general one.
        epoch = 0;
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
        if (q > digits && CsvCells.IsTerminator(text, q))
        {
            if (negative) epoch = -epoch;
            return q;
        }
        var end = CsvCells.CellEnd(text, p, out var cs, out var ce, out _);
        if (end < 0 || !CsvNumbers.TryParseInteger(text[cs..ce], out epoch))
        {
            var shown = text[p..(end < 0 ? p + text[p..].IndexOf((byte)'\n') : end)];
            throw new BadRowException(at, $"epoch '{CsvCells.Show(shown)}' is not an integer");
        }
        return end;
    }

    /// <summary>Reads the mode cell at <paramref name="p"/>; returns the index of its terminator.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int ReadMode(ReadOnlySpan<byte> text, int p, long at, out int mode)
    {
        var n = _lastModeBytes.Length;
        if (_lastMode >= 0 && p + n < text.Length && text.Slice(p, n).SequenceEqual(_lastModeBytes) && CsvCells.IsTerminator(text, p + n))
        {
            mode = _lastMode;
            return p + n;
        }
        var end = CsvCells.CellEnd(text, p, out var cs, out var ce, out var escaped);
        if (end < 0) throw new BadRowException(at, UnclosedQuote);
        var content = text[cs..ce];
        string? unescaped = null;
        if (escaped)
        {
            unescaped = CsvCells.Unescape(content);
            content = Encoding.UTF8.GetBytes(unescaped);
        }
        if (content.IsEmpty) throw new BadRowException(at, "the mode is empty");
        mode = Modes.Intern(content, unescaped);
        _lastMode = mode;
        _lastModeBytes = Modes.Bytes(mode);
        return end;
    }

    /// <summary>True when <paramref name="line"/> (with its newline) holds nothing but blanks.</summary>
    public static bool IsBlank(ReadOnlySpan<byte> line)
    {
        var p = 0;
        return IsBlank(line, ref p);
    }

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
            var end = CsvCells.CellEnd(text, p, out _, out _, out _);
            if (end < 0) return UnclosedQuote;
            if (text[end] != (byte)',') break;
            cells++;
            p = end + 1;
        }
        return $"the line has {cells} cells but the header has {columns}";
    }
}

/// <summary>A row of a batch log that cannot be read; the file offset of its line says which line it is.</summary>
internal sealed class BadRowException(long offset, string message) : Exception(message)
{
    public long Offset { get; } = offset;
}
