using System.Globalization;
using System.Text;

namespace Kiln.Metrics.Epochs;

/// <summary>
/// The <c>epoch_log.csv</c> format: <c>epoch,mode,</c> the reduced columns, <c>n_batches</c>; numbers in round-trip
/// form, missing values empty, as pandas's <c>to_csv</c> writes them.
/// </summary>
internal static class EpochLogCsv
{
    public static string Write(EpochTable table)
    {
        var sb = new StringBuilder();
        sb.Append(BatchLogHeader.EpochColumn).Append(',').Append(BatchLogHeader.ModeColumn);
        foreach (var c in table.Columns) sb.Append(',').Append(Quote(c));
        sb.Append(',').Append(BatchLogHeader.CountColumn).Append('\n');
        foreach (var row in table.Rows)
        {
            sb.Append(row.Epoch.ToString(CultureInfo.InvariantCulture)).Append(',').Append(Quote(row.Mode));
            foreach (var v in row.Values)
            {
                sb.Append(',');
                if (v is { } value) sb.Append(value.ToString("R", CultureInfo.InvariantCulture));
            }
            sb.Append(',').Append(row.Batches.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>Reads a table written by <see cref="Write"/>; null when the file is not one (it is then rebuilt).</summary>
    public static EpochTable? TryRead(string path)
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
                var end = CsvCells.CellEnd(text, p, out var cs, out var ce, out var escaped);
                if (end < 0) return null;
                cells.Add(CsvCells.Text(text[cs..ce], escaped));
                p = end + 1;
                if (text[end] == (byte)',') continue;
                if (text[end] == (byte)'\r') p++;
                break;
            }
            lines.Add(cells);
        }
        var header = lines[0];
        if (header.Count < 3 || header[0] != BatchLogHeader.EpochColumn || header[1] != BatchLogHeader.ModeColumn || header[^1] != BatchLogHeader.CountColumn) return null;
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
