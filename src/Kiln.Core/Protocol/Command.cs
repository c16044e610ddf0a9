using System.Diagnostics.CodeAnalysis;
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

/// <summary>One line of the inbox, <c>kiln.commands.jsonl</c>: a change and who sent it.</summary>
public sealed record Command : Change
{
    /// <summary>The modules Kiln ships. Front ends accept these; the kernel reads any name and its module table decides.</summary>
    public static readonly string[] Modules = ["core", "cb", "opt", "loss", "tune"];

    /// <summary>The longest cid a command may have (a fresh one, <see cref="NewCid"/>, has 32 characters).</summary>
    public const int MaxCidLength = 256;
    private static readonly string[] Fields = ["cid", "ts", "source", "module", "op", "id", "params", "target", "init", "enabled", "time_budget_s"];

    public Command()
    {
    }

    /// <summary>A command that makes <paramref name="change"/> (a replayed recipe entry), with its own copies of the arguments.</summary>
    [SetsRequiredMembers]
    public Command(Change change) : base(change)
    {
        Params = change.Params?.DeepClone() as JsonObject;
        Init = change.Init?.DeepClone() as JsonObject;
    }

    public string? Cid { get; init; }
    public double? Ts { get; init; }
    public string? Source { get; init; }

    public JsonObject ToJson()
    {
        var o = new JsonObject();
        if (Cid is not null) o["cid"] = Cid;
        if (Ts is not null) o["ts"] = Ts;
        if (Source is not null) o["source"] = Source;
        o["module"] = Module;
        o["op"] = Op;
        if (Id is not null) o["id"] = Id;
        WriteArguments(o);
        return o;
    }

    /// <summary>Reads a command, checking every field's type; unknown fields are an error, not silently dropped. The module must be one of <see cref="Modules"/>.</summary>
    public static Command FromJson(JsonNode node) => FromJson(node, Modules);

    /// <summary>
    /// Reads a command whose module is one of <paramref name="modules"/>, or any module when it is null (the kernel
    /// reads every name and ledgers the ones no module of the run answers to as rejected).
    /// </summary>
    public static Command FromJson(JsonNode node, IReadOnlyCollection<string>? modules)
    {
        if (node is not JsonObject o) throw new ProtocolException($"expected a JSON object, got {JsonValues.Show(node)}");
        JsonValues.RejectUnknownKeys(o, Fields, "");
        var module = o["module"] is null
            ? throw new ProtocolException($"module: missing (one of {string.Join(", ", Modules)})")
            : JsonValues.GetString(o["module"], "module");
        if (modules is not null && !modules.Contains(module))
            throw new ProtocolException($"module: unknown module \"{module}\" (known: {string.Join(", ", modules)})");
        var op = o["op"] is null ? throw new ProtocolException("op: missing") : JsonValues.GetString(o["op"], "op");
        var cid = JsonValues.GetOptionalString(o, "cid");
        if (cid?.Length > MaxCidLength) throw new ProtocolException($"cid: {cid.Length} characters is too long (at most {MaxCidLength})");
        return (Command)new Command
        {
            Cid = cid,
            Ts = o["ts"] is null ? null : JsonValues.GetDouble(o["ts"], "ts"),
            Source = JsonValues.GetOptionalString(o, "source"),
            Module = module,
            Op = op,
        }.WithArgumentsFrom(o);
    }

    /// <summary>A new command id: time-ordered and unique across processes.</summary>
    public static string NewCid() => Guid.CreateVersion7().ToString("N");
}
