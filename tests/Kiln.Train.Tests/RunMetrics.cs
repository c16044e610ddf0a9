using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Train.Tests;

/// <summary>A run's metrics as the tests compare them: two runs that trained alike give the same lines.</summary>
internal static class RunMetrics
{
    /// <summary>Every metrics line without its wall time.</summary>
    public static List<string> Lines(string runDir)
    {
        var lines = new List<string>();
        JsonlTail.ReadAll(Path.Combine(runDir, RunFiles.Metrics), line =>
        {
            var o = (JsonObject)JsonNode.Parse(line.Bytes.Span)!;
            o.Remove("wall_time");
            lines.Add(o.ToJsonString());
        });
        return lines;
    }
}
