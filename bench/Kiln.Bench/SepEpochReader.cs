using Kiln.Metrics.Epochs;
using nietras.SeparatedValues;

namespace Kiln.Bench;

/// <summary>
/// The epoch aggregation with Sep doing the reading and parsing, into the same groups as Kiln's own parser: how the
/// two parsers compare on the same work (DESIGN.md §6 takes Sep where it measures as fast). One thread, no error
/// handling beyond Sep's own: it exists only to be timed.
/// </summary>
internal static class SepEpochReader
{
    public static int Aggregate(string path)
    {
        byte[] first;
        using (var stream = File.OpenRead(path))
        {
            first = new byte[64 << 10];
            first = first[..stream.Read(first)];
        }
        var header = BatchLogHeader.Parse(path, first[..(Array.IndexOf(first, (byte)'\n') + 1)]);
        var modes = new ModeNames();
        var rows = new EpochAccumulator(header, new MedianValues(header.Medians));
        using var reader = Sep.Reader(o => o with { Unescape = true }).FromFile(path);
        var epochAt = Array.IndexOf(header.Roles, ColumnRole.Epoch);
        var modeAt = Array.IndexOf(header.Roles, ColumnRole.Mode);
        var columns = Enumerable.Range(0, header.Slots.Length).Where(j => header.Slots[j] >= 0).ToArray();
        var values = new double[header.Reduced.Length];
        var lastMode = -1;
        var lastModeText = "";
        Span<byte> utf8 = stackalloc byte[256];
        foreach (var row in reader)
        {
            var epoch = row[epochAt].Parse<long>();
            var text = row[modeAt].Span;
            if (lastMode < 0 || !text.SequenceEqual(lastModeText))
            {
                lastMode = modes.Intern(utf8[..System.Text.Encoding.UTF8.GetBytes(text, utf8)]);
                lastModeText = text.ToString();
            }
            foreach (var j in columns) values[header.Slots[j]] = row[j].TryParse<double>() ?? double.NaN;
            rows.Row(epoch, lastMode, values, 0, 0);
        }
        rows.Close();
        return rows.Groups.Count;
    }
}
