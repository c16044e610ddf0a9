namespace Kiln.Server.Metrics;

/// <summary><c>/api/compare</c>: one metric of several runs (null for a run without it).</summary>
internal sealed record CompareAnswer(string Metric, Dictionary<string, SampledSeries?> Runs, bool Partial);
