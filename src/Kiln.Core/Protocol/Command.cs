using System.Text.Json.Nodes;

namespace Kiln.Protocol;

/// <summary>Where a callback comes from: a .NET type, a compiled assembly or a C# source file.</summary>
public sealed record CallbackTarget(string Kind, string Path, string? Symbol)
{
    /// <summary>A type already loaded in the process (<c>Namespace.Type</c>).</summary>
    public const string TypeKind = "type";
    /// <summary>A type in a compiled assembly: <c>Path</c> is the .dll, <c>Symbol</c> the type.</summary>
    public const string AssemblyKind = "assembly";
    /// <summary>A C# source file compiled at load time.</summary>
    public const string FileKind = "file";
    /// <summary>An instance registered in code by the trainer.</summary>
    public const string InstanceKind = "instance";

    public static readonly string[] Kinds = [TypeKind, AssemblyKind, FileKind];

    public JsonObject ToJson()
    {
        var o = new JsonObject { ["kind"] = Kind, ["path"] = Path };
        o["symbol"] = Symbol;
        return o;
    }

    public static CallbackTarget FromJson(JsonNode? node, string key)
    {
        var o = JsonValues.GetObject(node, key);
        JsonValues.RejectUnknownKeys(o, ["kind", "path", "symbol"], key + ": ");
        var kind = JsonValues.GetString(o["kind"], key + ".kind");
        if (Array.IndexOf(Kinds, kind) < 0 && kind != InstanceKind)
            throw new ProtocolException($"{key}.kind: unknown kind \"{kind}\" (known: {string.Join(", ", Kinds)})");
        var path = JsonValues.GetString(o["path"], key + ".path");
        if (path.Length == 0) throw new ProtocolException($"{key}.path: must not be empty");
        var symbol = JsonValues.GetOptionalString(o, "symbol", key + ".");
        return new CallbackTarget(kind, path, symbol);
    }
}

/// <summary>One line of the inbox, <c>kiln.commands.jsonl</c>.</summary>
public sealed record Command
{
    public static readonly string[] Modules = ["core", "cb", "opt", "loss", "tune"];
    private static readonly string[] Fields = ["cid", "ts", "source", "module", "op", "id", "params", "target", "init", "enabled"];

    public string? Cid { get; init; }
    public double? Ts { get; init; }
    public string? Source { get; init; }
    public required string Module { get; init; }
    public required string Op { get; init; }
    public string? Id { get; init; }
    public JsonObject? Params { get; init; }
    public CallbackTarget? Target { get; init; }
    public JsonObject? Init { get; init; }
    public bool? Enabled { get; init; }
    /// <summary>Set on replayed loads: the captured copy of the source file to load instead of the original.</summary>
    public SourceCapture? SourceCapture { get; init; }

    public JsonObject ToJson()
    {
        var o = new JsonObject();
        if (Cid is not null) o["cid"] = Cid;
        if (Ts is not null) o["ts"] = Ts;
        if (Source is not null) o["source"] = Source;
        o["module"] = Module;
        o["op"] = Op;
        if (Id is not null) o["id"] = Id;
        if (Params is not null) o["params"] = Params.DeepClone();
        if (Target is not null) o["target"] = Target.ToJson();
        if (Init is not null) o["init"] = Init.DeepClone();
        if (Enabled is not null) o["enabled"] = Enabled;
        return o;
    }

    /// <summary>Reads a command, checking every field's type; unknown fields are an error, not silently dropped.</summary>
    public static Command FromJson(JsonNode node)
    {
        if (node is not JsonObject o) throw new ProtocolException($"expected a JSON object, got {JsonValues.Show(node)}");
        JsonValues.RejectUnknownKeys(o, Fields, "");
        var module = o["module"] is null
            ? throw new ProtocolException("module: missing (one of core, cb, opt, loss, tune)")
            : JsonValues.GetString(o["module"], "module");
        if (Array.IndexOf(Modules, module) < 0)
            throw new ProtocolException($"module: unknown module \"{module}\" (known: {string.Join(", ", Modules)})");
        var op = o["op"] is null ? throw new ProtocolException("op: missing") : JsonValues.GetString(o["op"], "op");
        return new Command
        {
            Cid = JsonValues.GetOptionalString(o, "cid"),
            Ts = o["ts"] is null ? null : JsonValues.GetDouble(o["ts"], "ts"),
            Source = JsonValues.GetOptionalString(o, "source"),
            Module = module,
            Op = op,
            Id = JsonValues.GetOptionalString(o, "id"),
            Params = o["params"] is null ? null : (JsonObject)JsonValues.GetObject(o["params"], "params").DeepClone(),
            Target = o["target"] is null ? null : CallbackTarget.FromJson(o["target"], "target"),
            Init = o["init"] is null ? null : (JsonObject)JsonValues.GetObject(o["init"], "init").DeepClone(),
            Enabled = o["enabled"] is null ? null : JsonValues.GetBool(o["enabled"], "enabled"),
        };
    }

    /// <summary>A new command id: time-ordered and unique across processes.</summary>
    public static string NewCid() => Guid.CreateVersion7().ToString("N");
}
