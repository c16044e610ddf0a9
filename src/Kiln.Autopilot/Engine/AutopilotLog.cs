using System.Text.Json.Nodes;
using Kiln.Autopilot.Actions;
using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Autopilot.Engine;

/// <summary>
/// <c>kiln.autopilot.jsonl</c>: every proposal of the autopilot, and each later change of its state (accepted, rejected)
/// as a line of its own — appended whole under the file's lock, so the autopilot, the dashboard and the command line
/// may write at once. The newest line of an id is its state; a torn or unreadable line is passed over.
/// </summary>
public sealed class AutopilotLog(string runDir)
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetFullPath(runDir), RunFiles.Autopilot);

    public void Append(Proposal proposal) => JsonlFile.Append(Path, proposal.ToJson());

    /// <summary>Every proposal in its newest state, in the order they were first made.</summary>
    public IReadOnlyList<Proposal> Read()
    {
        var byId = new Dictionary<string, Proposal>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var line in Lines(Path))
        {
            if (Parse(line) is not { } p) continue;
            if (!byId.ContainsKey(p.Id)) order.Add(p.Id);
            byId[p.Id] = p;
        }
        return [.. order.Select(id => byId[id])];
    }

    /// <summary>The complete lines of a JSONL file (the last one may be being written), an oversized one left out.</summary>
    internal static IEnumerable<ReadOnlyMemory<byte>> Lines(string path)
    {
        if (!File.Exists(path)) yield break;
        var tail = new JsonlTail(path);
        var lines = new List<JsonlLine>();
        while (true)
        {
            try
            {
                if (tail.Poll(lines) == 0) yield break;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new ProtocolException($"{path}: cannot read: {ex.Message}");
            }
            foreach (var line in lines)
                if (!line.Oversized) yield return line.Bytes;
        }
    }

    private static Proposal? Parse(ReadOnlyMemory<byte> line)
    {
        try
        {
            var o = JsonValues.GetObject(JsonValues.ParseDocument(line.Span, RunFiles.Autopilot), "line");
            return new Proposal
            {
                Id = JsonValues.GetString(o["id"], "id"),
                Ts = JsonValues.GetDouble(o["ts"], "ts"),
                Step = (long)JsonValues.GetDouble(o["step"], "step"),
                Rule = JsonValues.GetString(o["rule"], "rule"),
                Status = JsonValues.GetString(o["status"], "status"),
                Confidence = JsonValues.GetString(o["confidence"], "confidence"),
                Action = AutopilotAction.FromJson(o["action"], "action"),
                Rationale = JsonValues.GetString(o["rationale"], "rationale"),
                Cid = JsonValues.GetOptionalString(o, "cid"),
                Note = JsonValues.GetOptionalString(o, "note"),
                HealthyStep = o["healthy_step"] is { } h ? JsonValues.GetLong(h, "healthy_step") : null,
            };
        }
        catch (ProtocolException)
        {
            return null;
        }
    }
}
