namespace Kiln.Server.Metrics;

/// <summary><c>/api/run/metrics</c>: the series asked for, downsampled, and where the event stream continues.</summary>
/// <param name="Lines">Lines read; null when the answer comes from a preview (<paramref name="Partial"/>).</param>
internal sealed record MetricsAnswer(SortedDictionary<string, SampledSeries> Series, long Offset, long? Lines, bool Partial);

/// <summary><c>/api/run/metric-names</c>: every metric with its points (null in a preview), and the ones drawn by default.</summary>
internal sealed record MetricNamesAnswer(SortedDictionary<string, int?> Names, List<string> Default, bool Partial);

/// <summary><c>/api/compare</c>: one metric of several runs (null for a run without it).</summary>
internal sealed record CompareAnswer(string Metric, Dictionary<string, SampledSeries?> Runs, bool Partial);
