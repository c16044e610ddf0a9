using System.Text;
using System.Text.Json.Nodes;
using System.Text.Unicode;
using Kiln.Protocol;

namespace Kiln.Testing;

/// <summary>
/// Kernel rule 1 checked from the files alone: every complete, non-blank line of the inbox has exactly one decision in
/// the ledger, no decision is written twice, the ledger is numbered 1, 2, 3, … and is text that reads back.
/// </summary>
public sealed record InboxAudit(int Lines, int PendingBytes, IReadOnlyList<LedgerEntry> Decisions, IReadOnlyList<string> Problems)
{
    public bool Ok => Problems.Count == 0;

    public override string ToString() =>
        $"{Lines} inbox lines, {Decisions.Count} decisions, {PendingBytes} bytes pending" + (Ok ? "" : ":\n  " + string.Join("\n  ", Problems.Take(20)));

    /// <param name="tornLedgerAllowed">A killed kernel may leave an unfinished last ledger line (its successor drops it).</param>
    public static InboxAudit Of(string runDir, bool tornLedgerAllowed = false)
    {
        var files = new RunFiles(runDir);
        var problems = new List<string>();
        var inbox = File.Exists(files.CommandsPath) ? File.ReadAllBytes(files.CommandsPath) : [];
        var complete = inbox.AsSpan(0, inbox.AsSpan().LastIndexOf((byte)'\n') + 1);
        var lines = 0;
        foreach (var line in complete.Split((byte)'\n'))
        {
            if (!IsBlank(complete[line])) lines++;
        }

        var entries = new List<LedgerEntry>();
        if (File.Exists(files.LedgerPath))
        {
            var bytes = File.ReadAllBytes(files.LedgerPath);
            if (!Utf8.IsValid(bytes)) problems.Add("the ledger is not valid UTF-8");
            var whole = bytes.AsSpan(0, bytes.AsSpan().LastIndexOf((byte)'\n') + 1);
            if (whole.Length < bytes.Length && !tornLedgerAllowed) problems.Add($"the ledger ends with an unfinished line of {bytes.Length - whole.Length} bytes");
            var number = 0;
            foreach (var range in whole.Split((byte)'\n'))
            {
                var text = whole[range];
                if (text.Length == 0) continue;
                number++;
                try
                {
                    var node = JsonValues.ParseDocument(text, $"ledger line {number}");
                    ReadStrings(node);
                    entries.Add(LedgerEntry.FromJson(node));
                }
                catch (Exception ex) when (ex is ProtocolException or InvalidOperationException)
                {
                    problems.Add(ex.Message);
                }
            }
        }
        for (var i = 0; i < entries.Count; i++)
        {
            if (entries[i].Seq != i + 1)
            {
                problems.Add($"ledger line {i + 1} has seq {entries[i].Seq}");
                break;
            }
        }
        var decisions = entries.Where(e => e.Cid is not null && !e.Cid.StartsWith("replay:", StringComparison.Ordinal)).ToList();
        foreach (var twice in decisions.GroupBy(e => e.Cid!, StringComparer.Ordinal).Where(g => g.Count() > 1))
            problems.Add($"cid {twice.Key} is decided {twice.Count()} times: {string.Join(", ", twice.Select(e => e.Decision))}");
        if (decisions.Count != lines) problems.Add($"{lines} complete inbox lines but {decisions.Count} decisions");
        return new InboxAudit(lines, inbox.Length - complete.Length, decisions, problems);
    }

    private static bool IsBlank(ReadOnlySpan<byte> line)
    {
        foreach (var b in line)
        {
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r')) return false;
        }
        return true;
    }

    private static void ReadStrings(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (_, v) in o) ReadStrings(v);
                break;
            case JsonArray a:
                foreach (var v in a) ReadStrings(v);
                break;
            case JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.String:
                _ = v.GetValue<string>();
                break;
        }
    }

    /// <summary>The text of a ledger for a failure message.</summary>
    public static string LedgerText(string runDir)
    {
        var path = new RunFiles(runDir).LedgerPath;
        return File.Exists(path) ? Encoding.UTF8.GetString(File.ReadAllBytes(path)) : "(no ledger)";
    }
}
