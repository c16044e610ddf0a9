using System.Runtime.CompilerServices;
using System.Text;

namespace Kiln.Metrics.Epochs;

/// <summary>
/// The bounds of CSV cells in UTF-8 text that ends with a newline, read the way pandas reads them: a cell in quotes
/// may hold commas and doubled quotes, text after a closing quote makes the cell plain text, and a line ends at LF
/// or CRLF.
/// </summary>
internal static class CsvCells
{
    /// <summary>
    /// Finds the end of the cell starting at <paramref name="start"/> in <paramref name="text"/>, which must end with a
    /// newline: returns the index of its terminator — the comma, the newline, or the carriage return of a CRLF —
    /// and the content's bounds (inside the quotes for a quoted cell), or -1 when a quote is not closed on the line.
    /// <paramref name="escaped"/> says the content holds doubled quotes and needs <see cref="Unescape"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int CellEnd(ReadOnlySpan<byte> text, int start, out int contentStart, out int contentEnd, out bool escaped)
    {
        escaped = false;
        contentStart = start;
        if (text[start] == (byte)'"')
        {
            var q = start + 1;
            while (true)
            {
                q += text[q..].IndexOfAny((byte)'"', (byte)'\n');
                if (text[q] == (byte)'\n')
                {
                    contentEnd = q;
                    return -1;
                }
                if (text[q + 1] != (byte)'"') break;
                escaped = true;
                q += 2;
            }
            var end = Terminator(text, q + 1);
            if (Trim(text[(q + 1)..end]).IsEmpty)
            {
                contentStart = start + 1;
                contentEnd = q;
                return end;
            }
            // Text after the closing quote: not a quoted cell after all, so it is kept as written.
            escaped = false;
            contentEnd = end;
            return end;
        }
        var t = Terminator(text, start);
        contentEnd = t;
        return t;
    }

    /// <summary>The cell's text: inside its quotes, doubled quotes made single.</summary>
    public static string Text(ReadOnlySpan<byte> content, bool escaped) =>
        escaped ? Unescape(content) : Encoding.UTF8.GetString(content);

    /// <summary>The content of a quoted cell with its doubled quotes made single.</summary>
    public static string Unescape(ReadOnlySpan<byte> content) => Encoding.UTF8.GetString(content).Replace("\"\"", "\"", StringComparison.Ordinal);

    /// <summary>True when the cell at <paramref name="i"/> ends there: a comma, a newline, or the CR of a CRLF.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsTerminator(ReadOnlySpan<byte> text, int i) =>
        text[i] is (byte)',' or (byte)'\n' || (text[i] == (byte)'\r' && text[i + 1] == (byte)'\n');

    /// <summary>The cell without leading and trailing spaces and tabs.</summary>
    public static ReadOnlySpan<byte> Trim(ReadOnlySpan<byte> cell)
    {
        var start = 0;
        var end = cell.Length;
        while (start < end && (cell[start] == (byte)' ' || cell[start] == (byte)'\t')) start++;
        while (end > start && (cell[end - 1] == (byte)' ' || cell[end - 1] == (byte)'\t')) end--;
        return cell[start..end];
    }

    /// <summary>The cell's text for an error message, cut short when long.</summary>
    public static string Show(ReadOnlySpan<byte> cell)
    {
        var text = Encoding.UTF8.GetString(cell.Length > 60 ? cell[..60] : cell);
        return cell.Length > 60 ? text + "…" : text;
    }

    private static int Terminator(ReadOnlySpan<byte> text, int from)
    {
        var t = from + text[from..].IndexOfAny((byte)',', (byte)'\n');
        return text[t] == (byte)'\n' && t > from && text[t - 1] == (byte)'\r' ? t - 1 : t;
    }
}
