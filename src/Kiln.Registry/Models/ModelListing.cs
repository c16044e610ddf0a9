using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kiln.Registry.Records;

namespace Kiln.Registry.Models;

/// <summary>
/// <c>kiln models --json</c>'s document, written as it goes: the workspace, the number of models, and the groups by
/// architecture, each model one line of JSON as the database made it — so 10,000 models list in a blink, and a
/// reader of the output still sees one model per line.
/// </summary>
public static class ModelListing
{
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void WriteJson(TextWriter writer, string workspaceRoot, IReadOnlyList<ModelGroup<RunJson>> groups)
    {
        writer.Write("{\n  \"workspace\": ");
        writer.Write(Text(workspaceRoot));
        writer.Write(",\n  \"count\": ");
        writer.Write(groups.Sum(g => g.Count).ToString(System.Globalization.CultureInfo.InvariantCulture));
        writer.Write(",\n  \"groups\": [");
        for (var g = 0; g < groups.Count; g++)
        {
            var group = groups[g];
            writer.Write(g == 0 ? "\n" : ",\n");
            writer.Write("    {\n      \"fingerprint\": ");
            writer.Write(Text(group.Fingerprint));
            writer.Write(",\n      \"summary\": ");
            writer.Write(Text(group.Summary));
            writer.Write(",\n      \"newest\": ");
            writer.Write(group.Newest is { } n ? JsonValue.Create(n).ToJsonString() : "null");
            writer.Write(",\n      \"count\": ");
            writer.Write(group.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
            writer.Write(",\n      \"models\": [");
            for (var m = 0; m < group.Models.Count; m++)
            {
                writer.Write(m == 0 ? "\n        " : ",\n        ");
                writer.Write(group.Models[m].Json);
            }
            writer.Write(group.Models.Count == 0 ? "]\n    }" : "\n      ]\n    }");
        }
        writer.Write(groups.Count == 0 ? "]\n}\n" : "\n  ]\n}\n");
    }

    private static string Text(string? text) => text is null ? "null" : JsonValue.Create(text).ToJsonString(Relaxed);
}
