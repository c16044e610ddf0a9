namespace Kiln.Metrics.Epochs;

/// <summary>Where a <see cref="BatchLogParser"/> puts each row it reads.</summary>
internal interface IBatchRowSink
{
    /// <summary>
    /// One row: its group's epoch and mode number, its reduced values (NaN where missing; valid during the call),
    /// and the file offsets of its line's start and of the byte after its newline.
    /// </summary>
    void Row(long epoch, int mode, ReadOnlySpan<double> values, long start, long end);
}
