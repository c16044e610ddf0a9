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
