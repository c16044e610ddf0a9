using System.Text;
using nietras.SeparatedValues;

namespace Kiln.Experiments.Caching;

/// <summary>A <see cref="Table"/> as CSV (header row, then one line per row), written and read with Sep.</summary>
public sealed class CsvCacher : ByteCacher
{
    public override string Extension => ".csv";

    protected override byte[] Encode(object? value, Type type)
    {
        if (value is not Table table) throw new NotSupportedException($"CsvCacher stores a Kiln.Experiments.Caching.Table, not {value?.GetType().Name ?? "null"}");
        using var text = new StringWriter();
        if (table.Rows.Count == 0)
        {
            // Sep writes its header with the first row; a table without rows still keeps its columns.
            text.Write(string.Join(',', table.Columns.Select(c => c.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? $"\"{c.Replace("\"", "\"\"", StringComparison.Ordinal)}\"" : c)) + "\n");
            return Encoding.UTF8.GetBytes(text.ToString());
        }
        using (var writer = Sep.New(',').Writer(o => o with { Escape = true }).To(text))
        {
            foreach (var row in table.Rows)
            {
                using var r = writer.NewRow();
                for (var i = 0; i < table.Columns.Count; i++) r[table.Columns[i]].Set(i < row.Count ? row[i] : "");
            }
        }
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    protected override object? Decode(byte[] bytes, Type type)
    {
        using var reader = Sep.Reader(o => o with { Unescape = true, HasHeader = true }).FromText(Encoding.UTF8.GetString(bytes));
        var columns = reader.Header.ColNames.ToList();
        var rows = new List<IReadOnlyList<string>>();
        foreach (var row in reader)
        {
            var cells = new string[columns.Count];
            for (var i = 0; i < cells.Length; i++) cells[i] = row[i].ToString();
            rows.Add(cells);
        }
        return new Table(columns, rows);
    }
}
