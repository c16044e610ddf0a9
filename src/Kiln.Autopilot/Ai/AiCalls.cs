using System.Text.Json;
using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Autopilot.Ai;

/// <summary>Reads <c>kiln.autopilot.ai.jsonl</c> back: the last calls, and what they cost in all (for the dashboard).</summary>
public static class AiCalls
{
    /// <summary>The last <paramref name="count"/> calls (the prompt and raw reply left out), oldest first, and the total spent.</summary>
    public static (IReadOnlyList<JsonObject> Calls, double SpentUsd, int Total) Tail(string runDir, int count)
    {
        var path = Path.Combine(Path.GetFullPath(runDir), RunFiles.AutopilotAi);
        var calls = new List<JsonObject>();
        var spent = 0.0;
        foreach (var line in Engine.AutopilotLog.Lines(path))
        {
            JsonObject? o;
            try { o = JsonNode.Parse(line.Span) as JsonObject; }
            catch (JsonException) { continue; }
            if (o is null) continue;
            if (o["spent_usd"] is JsonValue s && s.TryGetValue(out double total)) spent = total;
            o.Remove("prompt");
            o.Remove("reply");
            calls.Add(o);
        }
        return (calls.Skip(Math.Max(0, calls.Count - count)).ToList(), spent, calls.Count);
    }
}
