using Kiln.Protocol;

namespace Kiln.Metrics.Epochs;

/// <summary>What a <c>batch_log.csv</c> column is for: the group keys, a reduction, or nothing.</summary>
internal enum ColumnRole : byte { Skip, Epoch, Mode, Mean, Last, Median, Max }

/// <summary>
/// The header line of a <c>batch_log.csv</c>: each column's role, and the reduced columns (the candidates for
/// <c>epoch_log.csv</c>, in file order) with their reductions.
/// </summary>
internal sealed class BatchLogHeader
{
    public const string EpochColumn = "epoch";
    public const string ModeColumn = "mode";
    public const string BatchColumn = "batch";
    public const string CountColumn = "n_batches";

    private BatchLogHeader(ColumnRole[] roles, int[] slots, string[] reduced, ColumnRole[] kinds)
    {
        Roles = roles;
        Slots = slots;
        Reduced = reduced;
        Kinds = kinds;
        MeanColumns = Of(ColumnRole.Mean);
        LastColumns = Of(ColumnRole.Last);
        MaxColumns = Of(ColumnRole.Max);
        MedianColumns = Of(ColumnRole.Median);
        MedianIndex = new int[kinds.Length];
        for (var k = 0; k < kinds.Length; k++) MedianIndex[k] = -1;
        for (var m = 0; m < MedianColumns.Length; m++) MedianIndex[MedianColumns[m]] = m;

        int[] Of(ColumnRole kind)
        {
            var columns = new List<int>();
            for (var k = 0; k < kinds.Length; k++)
            {
                if (kinds[k] == kind) columns.Add(k);
            }
            return [.. columns];
        }
    }

    /// <summary>Per file column: its role.</summary>
    public ColumnRole[] Roles { get; }

    /// <summary>Per file column: its index among <see cref="Reduced"/>, or -1.</summary>
    public int[] Slots { get; }

    /// <summary>The names of the reduced columns.</summary>
    public string[] Reduced { get; }

    /// <summary>Per reduced column: its reduction (<see cref="ColumnRole.Mean"/> … <see cref="ColumnRole.Max"/>).</summary>
    public ColumnRole[] Kinds { get; }

    /// <summary>The reduced columns that take the mean, the last value, the maximum and the median: the rows' values are
    /// reduced a kind at a time, without a choice per value.</summary>
    public int[] MeanColumns { get; }
    public int[] LastColumns { get; }
    public int[] MaxColumns { get; }
    public int[] MedianColumns { get; }

    /// <summary>Per reduced column: its index among <see cref="MedianColumns"/>, or -1.</summary>
    public int[] MedianIndex { get; }

    /// <summary>How many reduced columns take the median.</summary>
    public int Medians => MedianColumns.Length;

    /// <summary>Reads the header <paramref name="line"/> (with its newline) of the file at <paramref name="path"/>.</summary>
    public static BatchLogHeader Parse(string path, ReadOnlySpan<byte> line)
    {
        var names = new List<string>();
        var p = line.StartsWith("\uFEFF"u8) ? 3 : 0;
        while (true)
        {
            var end = CsvCells.CellEnd(line, p, out var cs, out var ce, out var escaped);
            if (end < 0) throw new ProtocolException($"{path} line 1: a quoted column name is not closed");
            names.Add(CsvCells.Text(line[cs..ce], escaped));
            if (line[end] != (byte)',') break;
            p = end + 1;
        }
        var roles = new ColumnRole[names.Count];
        var slots = new int[names.Count];
        var reduced = new List<string>();
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
                EpochColumn => ColumnRole.Epoch,
                ModeColumn => ColumnRole.Mode,
                BatchColumn => ColumnRole.Skip,
                _ => EpochLog.ReductionOf(name) switch
                {
                    "last" => ColumnRole.Last,
                    "median" => ColumnRole.Median,
                    "max" => ColumnRole.Max,
                    _ => ColumnRole.Mean,
                },
            };
            if (roles[j] < ColumnRole.Mean) continue;
            slots[j] = reduced.Count;
            reduced.Add(name);
        }
        foreach (var required in new[] { EpochColumn, ModeColumn })
        {
            if (!seen.Contains(required))
            {
                throw new ProtocolException($"{path} line 1: the header has no '{required}' column (columns: {string.Join(", ", names)})");
            }
        }
        var kinds = new ColumnRole[reduced.Count];
        for (var j = 0; j < roles.Length; j++)
        {
            if (slots[j] >= 0) kinds[slots[j]] = roles[j];
        }
        return new BatchLogHeader(roles, slots, [.. reduced], kinds);
    }
}
