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
public sealed record RecipeEntry
{
    /// <summary>The modules a recipe may hold: changes to the run, not kernel control.</summary>
    public static readonly string[] Modules = ["cb", "opt", "loss"];
    private static readonly string[] Fields = ["at", "module", "op", "id", "params", "target", "init", "enabled", "source_capture"];

    public required long Step { get; init; }
    public required string Event { get; init; }
    public required string Module { get; init; }
    public required string Op { get; init; }
    public string? Id { get; init; }
    public JsonObject? Params { get; init; }
    public CallbackTarget? Target { get; init; }
    public JsonObject? Init { get; init; }
    public bool? Enabled { get; init; }
    public SourceCapture? SourceCapture { get; init; }

    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["at"] = new JsonObject { ["step"] = Step, ["event"] = Event },
            ["module"] = Module,
            ["op"] = Op,
            ["id"] = Id,
        };
        if (Params is not null) o["params"] = Params.DeepClone();
        if (Target is not null) o["target"] = Target.ToJson();
        if (Init is not null) o["init"] = Init.DeepClone();
        if (Enabled is not null) o["enabled"] = Enabled;
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
        if (Array.IndexOf(Modules, module) < 0)
            throw new ProtocolException($"module: \"{module}\" cannot be replayed (recipes hold {string.Join(", ", Modules)})");
        var op = o["op"] is null ? throw new ProtocolException("op: missing") : JsonValues.GetString(o["op"], "op");
        return new RecipeEntry
        {
            Step = step,
            Event = evt,
            Module = module,
            Op = op,
            Id = JsonValues.GetOptionalString(o, "id"),
            Params = o["params"] is null ? null : (JsonObject)JsonValues.GetObject(o["params"], "params").DeepClone(),
            Target = o["target"] is null ? null : CallbackTarget.FromJson(o["target"], "target"),
            Init = o["init"] is null ? null : (JsonObject)JsonValues.GetObject(o["init"], "init").DeepClone(),
            Enabled = o["enabled"] is null ? null : JsonValues.GetBool(o["enabled"], "enabled"),
            SourceCapture = o["source_capture"] is null ? null : SourceCapture.FromJson(o["source_capture"], "source_capture"),
        };
    }

    /// <summary>The command this entry replays.</summary>
    public Command ToCommand(string cid) => new()
    {
        Cid = cid,
        Source = Sources.Replay,
        Module = Module,
        Op = Op,
        Id = Id,
        Params = Params?.DeepClone() as JsonObject,
        Target = Target,
        Init = Init?.DeepClone() as JsonObject,
        Enabled = Enabled,
        SourceCapture = SourceCapture,
    };
}
