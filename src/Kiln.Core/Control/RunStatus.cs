using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Control;

/// <summary>The last decision about one module handle (<c>opt:main</c>, <c>cb:timing</c>).</summary>
public sealed record HandleState(string Module, string? Id, LedgerEntry Last)
{
    public string Key => Id is null ? Module : $"{Module}:{Id}";
}

/// <summary>What <c>kiln status</c> reports about a run directory.</summary>
public sealed record RunStatus
{
    public required string Dir { get; init; }
    public FreezeState? Freeze { get; init; }
    /// <summary>Why <c>kiln.freeze.json</c> could not be read, when it could not.</summary>
    public string? FreezeError { get; init; }
    public RunInfo? Run { get; init; }
    public int InboxLines { get; init; }
    /// <summary>Inbox commands that have no ledger line yet.</summary>
    public int Backlog { get; init; }
    public int LedgerLines { get; init; }
    public long? LastStep { get; init; }
    public IReadOnlyList<HandleState> Handles { get; init; } = [];
    public IReadOnlyList<string> Problems { get; init; } = [];

    public JsonObject ToJson()
    {
        var handles = new JsonArray();
        foreach (var h in Handles)
        {
            handles.Add(new JsonObject
            {
                ["module"] = h.Module, ["id"] = h.Id, ["op"] = h.Last.Op, ["decision"] = h.Last.Decision,
                ["step"] = h.Last.Step, ["seq"] = h.Last.Seq, ["source"] = h.Last.Source,
                ["payload"] = h.Last.Payload?.DeepClone(), ["error"] = h.Last.Error, ["notes"] = h.Last.Notes,
            });
        }
        return new JsonObject
        {
            ["dir"] = Dir,
            ["freeze"] = Freeze?.ToJson(),
            ["freeze_error"] = FreezeError,
            ["run"] = Run?.ToJson(),
            ["inbox_lines"] = InboxLines,
            ["backlog"] = Backlog,
            ["ledger_lines"] = LedgerLines,
            ["last_step"] = LastStep,
            ["handles"] = handles,
            ["problems"] = new JsonArray(Problems.Select(p => (JsonNode?)JsonValue.Create(p)).ToArray()),
        };
    }
}
