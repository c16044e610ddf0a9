using System.Globalization;
using System.Text.Json.Nodes;

namespace Kiln.Protocol;

/// <summary>The inclusive range a dial accepts.</summary>
public readonly record struct Bounds(double Min, double Max)
{
    public string? Check(string key, double value)
    {
        if (value < Min) return $"{key}: {Show(value)} below min {Show(Min)}";
        if (value > Max) return $"{key}: {Show(value)} above max {Show(Max)}";
        return null;
    }

    public static string Show(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    public JsonArray ToJson() => [Min, Max];

    /// <summary>Reads <c>[min, max]</c>.</summary>
    public static Bounds FromJson(JsonNode? node, string key)
    {
        if (node is not JsonArray { Count: 2 } a)
            throw new ProtocolException($"{key}: expected [min, max], got {JsonValues.Show(node)}");
        var b = new Bounds(JsonValues.GetDouble(a[0], key + "[0]"), JsonValues.GetDouble(a[1], key + "[1]"));
        if (b.Min > b.Max) throw new ProtocolException($"{key}: min {Show(b.Min)} is above max {Show(b.Max)}");
        return b;
    }
}
