using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Modules.Callbacks;

/// <summary>
/// JSON as plain .NET values, for callbacks whose <c>SetParams</c> takes a dictionary (seed 001's <c>**kwargs</c>):
/// integers are <c>long</c>, other numbers <c>double</c>, then <c>string</c>, <c>bool</c>, <c>null</c>,
/// <c>List&lt;object?&gt;</c> and <c>Dictionary&lt;string, object?&gt;</c>.
/// </summary>
internal static class PlainJson
{
    public static Dictionary<string, object?> ToDictionary(JsonObject obj)
    {
        var d = new Dictionary<string, object?>(obj.Count, StringComparer.Ordinal);
        foreach (var (k, v) in obj) d[k] = ToValue(v);
        return d;
    }

    public static object? ToValue(JsonNode? node) => node switch
    {
        null => null,
        JsonObject o => ToDictionary(o),
        JsonArray a => a.Select(ToValue).ToList(),
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => v.GetValue<string>(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Number => Number(v),
            _ => null,
        },
        _ => null,
    };

    /// <summary>Written without a fraction or exponent and within range, a number is an integer: <c>3</c> but not <c>3.0</c> or <c>1e3</c>.</summary>
    private static object Number(JsonValue v)
    {
        var text = v.ToJsonString();
        if (text.AsSpan().IndexOfAny('.', 'e', 'E') < 0 && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l)) return l;
        JsonValues.TryGetDouble(v, out var d);
        return d;
    }
}
