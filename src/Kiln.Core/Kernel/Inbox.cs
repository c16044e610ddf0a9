using Kiln.IO;
using Kiln.Modules;
using Kiln.Protocol;

namespace Kiln.Kernel;

/// <summary>
/// The kernel's reader of <c>kiln.commands.jsonl</c>. Each new whole line gets exactly one ledger decision, also across
/// kernel restarts: a command is executed once; a line that is not a command is ledgered <c>rejected</c> (under its
/// <c>cid</c> when one can be read, else <c>inbox@&lt;offset&gt;</c>); a <c>cid</c> already in the ledger — a
/// restarted kernel reading its inbox again — is passed over, and one reused by a later line is rejected under
/// <c>&lt;cid&gt;#&lt;offset&gt;</c>. Blank lines are no commands and get nothing.
/// </summary>
internal sealed class Inbox(RunFiles files, int maxLineBytes, LedgerRecorder ledger, Dispatcher dispatch)
{
    private readonly JsonlTail _tail = new(files.CommandsPath, maxLineBytes);
    private readonly List<JsonlLine> _lines = [];
    // Where each cid was first seen in this inbox: a later line with the same cid is a reuse, not the same command.
    private readonly Dictionary<string, long> _offsets = new(StringComparer.Ordinal);

    public void Read(Moment at)
    {
        while (_tail.Poll(_lines) > 0 || _tail.Restarted)
        {
            if (_tail.Restarted)
            {
                _offsets.Clear();
                ledger.Kernel("inbox", at, OpResult.Applied(notes: $"{RunFiles.Commands} shrank (truncated or replaced); reading it again from the start; commands already in the ledger are not applied again"));
            }
            foreach (var line in _lines) Handle(line, at);
            if (_lines.Count == 0) break;
        }
    }

    private void Handle(JsonlLine line, Moment at)
    {
        var where = $"{RunFiles.Commands} line {line.Number}";
        if (line.Oversized)
        {
            Reject(line, null, $"{where}: line of {line.Length} bytes exceeds the limit of {maxLineBytes} bytes", at);
            return;
        }
        var bytes = line.Bytes.Span;
        if (!JsonValues.TryParseDocument(bytes, out var node, out var error))
        {
            // Keep what can be read, so the writer finds its command in the ledger.
            Reject(line, JsonCheck.ReadableFields(bytes, JsonValues.MaxDepth), $"{where}: {error}", at);
            return;
        }
        Command command;
        try
        {
            command = Command.FromJson(node, modules: null);
        }
        catch (ProtocolException ex)
        {
            Reject(line, JsonCheck.ReadableFields(bytes, JsonValues.MaxDepth), $"{where}: {ex.Message}", at);
            return;
        }
        if (Decided(command.Cid ?? Fallback(line), line, command.Module, command.Op, command.Id, at) is { } id)
            dispatch.Execute(command, command.Source ?? Sources.External, id, at, gated: true);
    }

    private void Reject(JsonlLine line, Dictionary<string, string>? fields, string error, Moment at)
    {
        string? Field(string name) => fields?.GetValueOrDefault(name);
        var (module, op, id) = (Field("module"), Field("op"), Field("id"));
        var readable = Field("cid") is { Length: <= Command.MaxCidLength } c ? c : null;
        if (Decided(readable ?? Fallback(line), line, module, op, id, at) is { } cid)
            ledger.Rejected(cid, module, op, id, error, at);
    }

    /// <summary>
    /// The ledger cid under which the line is to be decided now, or null when it was decided before (by this kernel or an
    /// earlier one). A cid that an earlier line holds is answered once, as a duplicate.
    /// </summary>
    private string? Decided(string cid, JsonlLine line, string? module, string? op, string? id, Moment at)
    {
        if (!ledger.Contains(cid))
        {
            _offsets[cid] = line.Offset;
            return cid;
        }
        if (_offsets.TryAdd(cid, line.Offset) || _offsets[cid] == line.Offset) return null;
        var again = $"{cid}#{line.Offset}";
        if (!ledger.Contains(again))
        {
            var first = _offsets[cid];
            ledger.Rejected(again, module, op, id, $"{RunFiles.Commands} line {line.Number}: duplicate cid {cid} (first at byte {first}); not applied again", at);
        }
        return null;
    }

    private static string Fallback(JsonlLine line) => $"inbox@{line.Offset}";
}
