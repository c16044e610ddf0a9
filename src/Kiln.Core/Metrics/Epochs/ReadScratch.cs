namespace Kiln.Metrics.Epochs;

/// <summary>
/// What a thread reading stretches of a log holds — a read buffer and one group's median values — kept from one
/// stretch to the next: allocating them per stretch would cost tens of megabytes of large arrays and collections.
/// </summary>
internal sealed class ReadScratch(byte[] buffer, MedianValues medians)
{
    public byte[] Buffer { get; set; } = buffer;
    public MedianValues Medians { get; } = medians;
}
