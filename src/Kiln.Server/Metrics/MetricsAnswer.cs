namespace Kiln.Server.Metrics;

/// <summary><c>/api/run/metrics</c>: the series asked for, downsampled, and where the event stream continues.</summary>
/// <param name="Lines">Lines read; null when the answer comes from a preview (<paramref name="Partial"/>).</param>
internal sealed record MetricsAnswer(SortedDictionary<string, SampledSeries> Series, long Offset, long? Lines, bool Partial);
