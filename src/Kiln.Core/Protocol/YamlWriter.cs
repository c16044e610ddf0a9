using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Kiln.Protocol;

/// <summary>
/// Writes JSON values as block YAML that <see cref="YamlJson"/> reads back to the same values: mappings as blocks,
/// lists in flow style, strings plain when they cannot be mistaken for anything else and double-quoted otherwise.
/// </summary>
public static partial class YamlWriter
{
    public static string Write(JsonObject document)
    {
        var sb = new StringBuilder();
        WriteMapping(sb, document, 0);
        return sb.ToString();
    }

    private static void WriteMapping(StringBuilder sb, JsonObject map, int indent)
    {
        foreach (var (key, value) in map)
        {
            sb.Append(' ', indent).Append(Scalar(key)).Append(':');
            if (value is JsonObject { Count: > 0 } child)
            {
                sb.Append('\n');
                WriteMapping(sb, child, indent + 2);
            }
            else
            {
                sb.Append(' ').Append(Flow(value)).Append('\n');
            }
        }
    }

    /// <summary>A value in flow style: <c>[1, 2]</c>, <c>{a: 1}</c>, or a scalar.</summary>
    public static string Flow(JsonNode? node) => node switch
    {
        null => "null",
        JsonArray a => "[" + string.Join(", ", a.Select(Flow)) + "]",
        JsonObject o => "{" + string.Join(", ", o.Select(kv => Scalar(kv.Key) + ": " + Flow(kv.Value))) + "}",
        JsonValue v when v.GetValueKind() == JsonValueKind.String => Scalar(v.GetValue<string>()),
        _ => node.ToJsonString(),
    };

    private static string Scalar(string s) =>
        PlainSafe().IsMatch(s) && !Reserved().IsMatch(s) ? s : JsonSerializer.Serialize(s);

    // Letters first, then letters, digits and a few punctuation marks that mean nothing to YAML.
    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_./-]*$")]
    private static partial Regex PlainSafe();

    [GeneratedRegex("^(?i:null|true|false|yes|no|on|off|y|n)$")]
    private static partial Regex Reserved();
}
