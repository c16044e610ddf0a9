namespace Kiln.Experiments.Caching;

/// <summary>
/// A table of text cells with named columns: what <see cref="CsvCacher"/> stores and a table reportable shows.
/// Cells are text so a table reads back exactly as written (numbers in invariant culture).
/// </summary>
public sealed record Table(IReadOnlyList<string> Columns, IReadOnlyList<IReadOnlyList<string>> Rows)
{
    /// <summary>A table from rows of values, formatted in the invariant culture (doubles round-trip).</summary>
    public static Table Of(IReadOnlyList<string> columns, IEnumerable<IEnumerable<object?>> rows) =>
        new(columns, [.. rows.Select(r => (IReadOnlyList<string>)[.. r.Select(Cell)])]);

    private static string Cell(object? v) => v switch
    {
        null => "",
        double d => d.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        float f => f.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };

    public bool Equals(Table? other) =>
        other is not null && Columns.SequenceEqual(other.Columns) && Rows.Count == other.Rows.Count
        && Rows.Zip(other.Rows).All(p => p.First.SequenceEqual(p.Second));

    public override int GetHashCode() => HashCode.Combine(Columns.Count, Rows.Count);
}
