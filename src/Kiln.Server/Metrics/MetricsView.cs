using Kiln.Metrics;

namespace Kiln.Server.Metrics;

/// <summary>What a reader sees of a run's metrics: every series read whole, or those of a preview (<see cref="Partial"/>,
/// with <see cref="Lines"/> unknown).</summary>
internal readonly record struct MetricsView(IReadOnlyDictionary<string, MetricSeries> Series, long Offset, long? Lines, bool Partial);
