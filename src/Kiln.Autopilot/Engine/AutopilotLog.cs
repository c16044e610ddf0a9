using System.Text;
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
        if (!File.Exists(Path)) return [];
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(Path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ProtocolException($"{Path}: cannot read: {ex.Message}");
        }
        // Only complete lines: the last one may be being written.
        var end = Array.LastIndexOf(bytes, (byte)'\n') + 1;
        foreach (var line in Encoding.UTF8.GetString(bytes, 0, end).Split('\n'))
        {
            if (line.Length == 0) continue;
            if (Parse(line) is not { } p) continue;
            if (!byId.ContainsKey(p.Id)) order.Add(p.Id);
            byId[p.Id] = p;
        }
        return [.. order.Select(id => byId[id])];
    }

    private static Proposal? Parse(string line)
    {
        try
        {
            var o = JsonValues.GetObject(JsonValues.ParseDocument(Encoding.UTF8.GetBytes(line), RunFiles.Autopilot), "line");
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
            };
        }
        catch (ProtocolException)
        {
            return null;
        }
    }
}
