using System.Text.Json.Serialization;

namespace Kiln.Server.Metrics;

/// <summary>A series reduced for drawing: per bucket the last point (the line) and the minimum and maximum (the band).</summary>
/// <param name="SourcePoints">How many points the range held (<c>points</c> in the API's answers).</param>
public sealed record SampledSeries(long[] Steps, double[] Last, double[] Min, double[] Max, [property: JsonPropertyName("points")] int SourcePoints);
