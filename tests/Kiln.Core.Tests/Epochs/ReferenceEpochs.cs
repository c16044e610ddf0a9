using System.Globalization;
using Kiln.Metrics.Epochs;

namespace Kiln.Core.Tests;

/// <summary>
/// The epoch table the plain way, to hold the streaming reader to: the whole text split into lines and cells, every
/// group's rows kept in lists, medians by sorting. Only for logs of unquoted numeric cells.
/// </summary>
internal static class ReferenceEpochs
{
    public static EpochTable Of(string text)
    {
        var lines = text.Split('\n');
        // What follows the last newline is a line still being written.
        var torn = lines[^1].Length > 0;
        var header = lines[0].TrimStart('\uFEFF').TrimEnd('\r').Split(',');
        var epochAt = Array.IndexOf(header, "epoch");
        var modeAt = Array.IndexOf(header, "mode");
        var reduced = Enumerable.Range(0, header.Length).Where(j => j != epochAt && j != modeAt && header[j] != "batch").ToArray();
        var order = new List<(long, string)>();
        var groups = new Dictionary<(long, string), List<double?[]>>();
        var rows = 0;
        foreach (var raw in lines[1..^1])
        {
            var line = raw.TrimEnd('\r');
            if (line.Trim().Length == 0) continue;
            var cells = line.Split(',');
            var key = (long.Parse(cells[epochAt], CultureInfo.InvariantCulture), cells[modeAt]);
            if (!groups.TryGetValue(key, out var list))
            {
                groups[key] = list = [];
                order.Add(key);
            }
            list.Add([.. reduced.Select(j => Number(cells[j]))]);
            rows++;
        }
        var table = order.ConvertAll(key =>
        {
            var list = groups[key];
            var values = new double?[reduced.Length];
            for (var c = 0; c < reduced.Length; c++)
            {
                var present = list.Where(v => v[c] is not null).Select(v => v[c]!.Value).ToList();
                values[c] = present.Count == 0 ? null : Reduce(EpochLog.ReductionOf(header[reduced[c]]), present);
                if (values[c] is double.NaN) values[c] = null;
            }
            return new EpochRow(key.Item1, key.Item2, values, list.Count);
        });
        return new EpochTable([.. reduced.Select(j => header[j])], table, rows, torn);
    }

    private static double? Number(string cell) =>
        cell is "" or "nan" or "NaN" ? null : double.Parse(cell, NumberStyles.Float, CultureInfo.InvariantCulture);

    private static double Reduce(string reduction, List<double> present)
    {
        var sorted = present.Order().ToList();
        switch (reduction)
        {
            case "last":
                return present[^1];
            case "max":
                // The first of equal largest values, as pandas keeps it.
                return present.Aggregate((max, v) => v > max ? v : max);
            case "median":
                var (lower, upper) = (sorted[(sorted.Count - 1) / 2], sorted[sorted.Count / 2]);
                return lower == upper ? upper : (lower + upper) / 2;
            default:
                // One by one in file order, the reader's order: the means agree to the bit.
                var sum = 0.0;
                foreach (var v in present) sum += v;
                return sum / present.Count;
        }
    }
}
