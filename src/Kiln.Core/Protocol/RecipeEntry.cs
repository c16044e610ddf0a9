using System.Text.Json.Nodes;

namespace Kiln.Protocol;

/// <summary>Where a hot-loaded source file was copied inside the run (<c>kiln.sources/&lt;sha256&gt;.cs</c>).</summary>
public sealed record SourceCapture(string Sha256, string CapturedPath)
{
    public JsonObject ToJson() => new() { ["sha256"] = Sha256, ["captured_path"] = CapturedPath };

    public static SourceCapture FromJson(JsonNode? node, string key)
    {
        var o = JsonValues.GetObject(node, key);
        JsonValues.RejectUnknownKeys(o, ["sha256", "captured_path"], key + ": ");
        return new SourceCapture(JsonValues.GetString(o["sha256"], key + ".sha256"), JsonValues.GetString(o["captured_path"], key + ".captured_path"));
    }
}

/// <summary>One line of a recipe, <c>kiln.recipe.jsonl</c>: a change and the moment it happened.</summary>
public sealed record RecipeEntry : Change
{
    private static readonly string[] Fields = ["at", "module", "op", "id", "params", "target", "init", "enabled", "time_budget_s", "source_capture"];

    public required long Step { get; init; }
    public required string Event { get; init; }

    /// <summary>
    /// Whether a change belongs in a recipe: every module's do, except <c>core</c>'s kernel control (freeze, unfreeze);
    /// its <c>restore_checkpoint</c> changes the run and is replayed.
    /// </summary>
    public static bool Replayable(string module, string? op) => module != Kernel.CoreModule.ModuleName || !Kernel.CoreModule.IsControl(op);

    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["at"] = new JsonObject { ["step"] = Step, ["event"] = Event },
            ["module"] = Module,
            ["op"] = Op,
            ["id"] = Id,
        };
        WriteArguments(o);
        if (SourceCapture is not null) o["source_capture"] = SourceCapture.ToJson();
        return o;
    }

    public static RecipeEntry FromJson(JsonNode? node)
    {
        var o = JsonValues.GetObject(node, "recipe entry");
        JsonValues.RejectUnknownKeys(o, Fields, "");
        if (o["at"] is null) throw new ProtocolException("at: missing (needs {step, event})");
        var at = JsonValues.GetObject(o["at"], "at");
        JsonValues.RejectUnknownKeys(at, ["step", "event"], "at: ");
        if (at["step"] is null) throw new ProtocolException("at.step: missing");
        var step = JsonValues.GetLong(at["step"], "at.step");
        if (step < 0) throw new ProtocolException($"at.step: must be >= 0, got {step}");
        var evt = at["event"] is null ? throw new ProtocolException("at.event: missing") : JsonValues.GetString(at["event"], "at.event");
        var module = o["module"] is null ? throw new ProtocolException("module: missing") : JsonValues.GetString(o["module"], "module");
        var op = o["op"] is null ? throw new ProtocolException("op: missing") : JsonValues.GetString(o["op"], "op");
        if (!Replayable(module, op))
            throw new ProtocolException($"module: \"{module}\" op \"{op}\" cannot be replayed (it controls the kernel; recipes hold changes to the run)");
        return (RecipeEntry)new RecipeEntry { Step = step, Event = evt, Module = module, Op = op }.WithArgumentsFrom(o);
    }

    /// <summary>The command this entry replays.</summary>
    public Command ToCommand(string cid) => new(this) { Cid = cid, Source = Sources.Replay };
}
