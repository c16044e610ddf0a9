using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Kiln.Protocol;

/// <summary>One line of <c>kiln.metrics.jsonl</c>: the values a trainer reported at one step.</summary>
public sealed record MetricsRecord(long Step, int? Epoch, string? Phase, double WallTime, IReadOnlyDictionary<string, double> Metrics)
{
    /// <summary>Serializes as one line; non-finite values are left out (JSON has no NaN).</summary>
    public byte[] ToJsonLine()
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("step", Step);
            if (Epoch is null) w.WriteNull("epoch"); else w.WriteNumber("epoch", Epoch.Value);
            if (Phase is null) w.WriteNull("phase"); else w.WriteString("phase", Phase);
            w.WriteNumber("wall_time", Math.Round(WallTime, 6));
            w.WriteStartObject("metrics");
            foreach (var (name, value) in Metrics)
            {
                if (double.IsFinite(value)) w.WriteNumber(name, value);
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    public static MetricsRecord FromJson(JsonNode? node)
    {
        var o = JsonValues.GetObject(node, "metrics line");
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        if (o["metrics"] is { } m)
        {
            foreach (var (name, value) in JsonValues.GetObject(m, "metrics"))
                metrics[name] = JsonValues.GetDouble(value, "metrics." + name);
        }
        return new MetricsRecord(
            JsonValues.GetLong(o["step"], "step"),
            o["epoch"] is null ? null : JsonValues.GetInt(o["epoch"], "epoch"),
            JsonValues.GetOptionalString(o, "phase"),
            o["wall_time"] is null ? 0 : JsonValues.GetDouble(o["wall_time"], "wall_time"),
            metrics);
    }
}
