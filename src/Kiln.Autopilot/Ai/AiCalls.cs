using System.Text;
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
        if (!File.Exists(path)) return ([], 0, 0);
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { throw new ProtocolException($"{path}: cannot read: {ex.Message}"); }
        var end = Array.LastIndexOf(bytes, (byte)'\n') + 1;
        var calls = new List<JsonObject>();
        var spent = 0.0;
        foreach (var line in Encoding.UTF8.GetString(bytes, 0, end).Split('\n'))
        {
            if (line.Length == 0) continue;
            JsonObject? o;
            try { o = JsonNode.Parse(line) as JsonObject; }
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
