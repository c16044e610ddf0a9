namespace Kiln.Server.Metrics;

/// <summary><c>/api/run/metric-names</c>: every metric with its points (null in a preview), and the ones drawn by default.</summary>
internal sealed record MetricNamesAnswer(SortedDictionary<string, int?> Names, List<string> Default, bool Partial);
