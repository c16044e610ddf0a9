using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Modules;
using Kiln.Protocol;

namespace Kiln.Kernel;

/// <summary>
/// The kernel's reader of <c>kiln.commands.jsonl</c>. Each new whole line is executed once: a line that is not a
/// command is ledgered <c>rejected</c> (under its <c>cid</c>, or <c>inbox@&lt;offset&gt;</c>); a <c>cid</c> already in the
/// ledger — a restarted kernel reading its inbox again — is skipped, and one reused by another line is rejected.
/// </summary>
internal sealed class Inbox(RunFiles files, int maxLineBytes, LedgerRecorder ledger, Dispatcher dispatch)
{
    private readonly JsonlTail _tail = new(files.CommandsPath, maxLineBytes);
    private readonly List<JsonlLine> _lines = [];
    private readonly Dictionary<string, long> _offsets = new(StringComparer.Ordinal);

    public void Read(Moment at)
    {
        while (_tail.Poll(_lines) > 0 || _tail.Restarted)
        {
            if (_tail.Restarted)
            {
                ledger.Kernel("inbox", at, OpResult.Applied(notes: $"{RunFiles.Commands} shrank (truncated or replaced); reading it again from the start; commands already in the ledger are not applied again"));
            }
            foreach (var line in _lines) Handle(line, at);
            if (_lines.Count == 0) break;
        }
    }

    private void Handle(JsonlLine line, Moment at)
    {
        var fallbackCid = $"inbox@{line.Offset}";
        var where = $"{RunFiles.Commands} line {line.Number}";
        if (line.Oversized)
        {
            if (!ledger.Contains(fallbackCid))
                ledger.Rejected(fallbackCid, null, null, null, $"{where}: line of {line.Length} bytes exceeds the limit of {maxLineBytes} bytes", at);
            return;
        }
        JsonNode node;
        try
        {
            node = JsonValues.ParseDocument(line.Bytes.Span, where);
        }
        catch (ProtocolException ex)
        {
            if (!ledger.Contains(fallbackCid)) ledger.Rejected(fallbackCid, null, null, null, ex.Message, at);
            return;
        }
        Command command;
        try
        {
            command = Command.FromJson(node, modules: null);
        }
        catch (ProtocolException ex)
        {
            // Keep what can be read, so the writer can find its command in the ledger.
            var o = node as JsonObject;
            var cid = Text(o?["cid"]) ?? fallbackCid;
            if (!ledger.Contains(cid)) ledger.Rejected(cid, Text(o?["module"]), Text(o?["op"]), Text(o?["id"]), $"{where}: {ex.Message}", at);
            return;
        }
        var id = command.Cid ?? fallbackCid;
        if (ledger.Contains(id))
        {
            // Seen before: either a restarted kernel re-reading its inbox, or a writer that reused a cid.
            if (_offsets.TryGetValue(id, out var first) && first != line.Offset)
                ledger.Rejected(id + "#" + line.Offset, command.Module, command.Op, command.Id, $"{where}: duplicate cid {id} (first at byte {first}); not applied again", at);
            return;
        }
        _offsets[id] = line.Offset;
        dispatch.Execute(command, command.Source ?? Sources.External, id, at, gated: true);
    }

    private static string? Text(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.String ? v.GetValue<string>() : null;
}
