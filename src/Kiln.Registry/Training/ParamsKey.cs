using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Kiln.Registry.Training;

/// <summary>
/// Hyper-parameters in one canonical text, so two runs are "the same training" exactly when their parameters mean the
/// same: keys sorted, numbers by value (<c>1e-3</c> is <c>0.001</c>), strings and structure kept.
/// </summary>
public static class ParamsKey
{
    public static string Of(JsonObject? parameters)
    {
        var sb = new StringBuilder();
        Write(sb, parameters ?? []);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, JsonNode? node)
    {
        switch (node)
        {
            case null:
                sb.Append("null");
                break;
            case JsonObject o:
                sb.Append('{');
                var first = true;
                foreach (var (k, v) in o.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    if (!first) sb.Append(',');
                    first = false;
                    sb.Append(JsonSerializer.Serialize(k)).Append(':');
                    Write(sb, v);
                }
                sb.Append('}');
                break;
            case JsonArray a:
                sb.Append('[');
                for (var i = 0; i < a.Count; i++)
                {
                    if (i > 0) sb.Append(',');
                    Write(sb, a[i]);
                }
                sb.Append(']');
                break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.Number && Kiln.Protocol.JsonValues.TryGetDouble(v, out var d):
                sb.Append(d.ToString("R", CultureInfo.InvariantCulture));
                break;
            default:
                sb.Append(node.ToJsonString());
                break;
        }
    }
}
