using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Kiln.Protocol;

/// <summary>
/// Parses <c>k=v</c> arguments the way the command line documents: <c>true</c>/<c>false</c> are booleans,
/// numbers (<c>1e-4</c>, <c>-3</c>, <c>0</c>, <c>2.5</c>) are numbers, <c>{…}</c> and <c>[…]</c> are JSON,
/// <c>null</c> is null and anything else is a string. Only the first <c>=</c> splits, so <c>e=x=y</c> is <c>"x=y"</c>.
/// </summary>
public static class KeyValueParser
{
    public static JsonObject Parse(IEnumerable<string> pairs)
    {
        var result = new JsonObject();
        foreach (var pair in pairs)
        {
            var (key, value) = ParseOne(pair);
            if (result.ContainsKey(key)) throw new ProtocolException($"{key}: given twice");
            result[key] = value;
        }
        return result;
    }

    public static (string Key, JsonNode? Value) ParseOne(string pair)
    {
        var eq = pair.IndexOf('=', StringComparison.Ordinal);
        if (eq < 0) throw new ProtocolException($"'{Show(pair)}': expected key=value");
        var key = pair[..eq].Trim();
        if (key.Length == 0) throw new ProtocolException($"'{Show(pair)}': the key before '=' is empty");
        if (!JsonCheck.IsText(key)) throw new ProtocolException($"'{Show(pair)}': the key is not text (a lone surrogate)");
        return (key, ParseValue(pair[(eq + 1)..], key));
    }

    public static JsonNode? ParseValue(string text, string key)
    {
        if (!JsonCheck.IsText(text)) throw new ProtocolException($"{Show(key)}: the value is not text (a lone surrogate)");
        var t = text.Trim();
        switch (t)
        {
            case "true": return JsonValue.Create(true);
            case "false": return JsonValue.Create(false);
            case "null": return null;
        }
        if (t.Length > 0 && (t[0] == '{' || t[0] == '['))
        {
            if (!JsonValues.TryParseDocument(Encoding.UTF8.GetBytes(t), out var node, out var error))
            {
                var problem = error.StartsWith("invalid JSON: ", StringComparison.Ordinal) ? error["invalid JSON: ".Length..] : error;
                throw new ProtocolException($"{Show(key)}: value {Show(t)} is not valid JSON: {problem}");
            }
            return node;
        }
        if (LooksNumeric(t))
        {
            if (long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l)) return JsonValue.Create(l);
            if (double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d)) return JsonValue.Create(d);
        }
        return JsonValue.Create(text);
    }

    private static string Show(string text) => JsonCheck.Excerpt(text, 200);

    // Only plain decimal notation counts as a number: "NaN", "Infinity", "0x10" and " 1" stay strings.
    private static bool LooksNumeric(string t)
    {
        if (t.Length == 0) return false;
        var i = 0;
        if (t[i] is '-' or '+') i++;
        var digits = 0;
        while (i < t.Length && char.IsAsciiDigit(t[i])) { i++; digits++; }
        if (i < t.Length && t[i] == '.') { i++; while (i < t.Length && char.IsAsciiDigit(t[i])) { i++; digits++; } }
        if (digits == 0) return false;
        if (i < t.Length && t[i] is 'e' or 'E')
        {
            i++;
            if (i < t.Length && t[i] is '-' or '+') i++;
            var exp = 0;
            while (i < t.Length && char.IsAsciiDigit(t[i])) { i++; exp++; }
            if (exp == 0) return false;
        }
        return i == t.Length;
    }

    /// <summary>The inverse, for display: <c>lr=3e-05 terms.aux=false</c>.</summary>
    public static string Format(JsonObject values)
    {
        var sb = new StringBuilder();
        foreach (var (k, v) in values)
        {
            if (sb.Length > 0) sb.Append(' ');
            sb.Append(k).Append('=');
            sb.Append(v is JsonValue jv && jv.GetValueKind() == JsonValueKind.String ? jv.GetValue<string>() : JsonValues.Show(v));
        }
        return sb.ToString();
    }
}
