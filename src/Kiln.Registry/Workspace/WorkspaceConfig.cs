using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kiln.Execution.Slurm;
using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Registry.Workspace;

/// <summary>
/// <c>kiln.json</c>, the workspace's configuration: its name, the commands <c>kiln train</c> and <c>kiln trial</c> run
/// (each an argv array, so arguments with spaces need no quoting), the executor that runs jobs, and default option
/// values. Read strictly: an unknown key or a value of the wrong type is an error naming the file and the key.
/// </summary>
public sealed record WorkspaceConfig
{
    public const string LocalExecutor = "local";
    public const string SlurmExecutor = "slurm";

    /// <summary>The executors a workspace may name (Kiln.Execution's).</summary>
    public static readonly IReadOnlyList<string> Executors = [LocalExecutor, SlurmExecutor];

    /// <summary><c>dotnet run --project train</c>: a C# trainer project in <c>train/</c> of the workspace.</summary>
    public static readonly IReadOnlyList<IReadOnlyList<string>> DefaultTrain = [["dotnet", "run", "--project", "train"]];

    /// <summary><c>dotnet run --project trial</c>: a C# project in <c>trial/</c> that loads the chosen weights and reports a result.</summary>
    public static readonly IReadOnlyList<IReadOnlyList<string>> DefaultTrial = [["dotnet", "run", "--project", "trial"]];

    private static readonly string[] Known = ["name", "train", "trial", "executor", "defaults"];

    public required string Name { get; init; }

    /// <summary>The commands <c>kiln train</c> (and <c>kiln queue run</c>) runs, one after the other.</summary>
    public IReadOnlyList<IReadOnlyList<string>> Train { get; init; } = DefaultTrain;

    /// <summary>The commands <c>kiln trial</c> runs, one after the other.</summary>
    public IReadOnlyList<IReadOnlyList<string>> Trial { get; init; } = DefaultTrial;

    /// <summary>Where jobs run: <c>local</c> (a process pool on this machine) or <c>slurm</c>.</summary>
    public string Executor { get; init; } = LocalExecutor;

    /// <summary>
    /// The cluster settings when <c>executor</c> is an object (<c>{"kind": "slurm", "partition": "gpu", …}</c>, see
    /// <see cref="SlurmOptions"/>); null when it is just a name.
    /// </summary>
    public SlurmOptions? Slurm { get; init; }

    /// <summary>Default values of command options, by option name; each command checks the ones it reads.</summary>
    public JsonObject Defaults { get; init; } = [];

    /// <summary>The configuration <c>kiln workspace init</c> writes for a folder: named after it, every other value the default.</summary>
    public static WorkspaceConfig For(string root, string? name = null) =>
        new() { Name = string.IsNullOrWhiteSpace(name) ? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(root))) : name.Trim() };

    /// <summary>Reads <paramref name="path"/>; a missing, malformed or invalid file is a <see cref="ProtocolException"/> naming it.</summary>
    public static WorkspaceConfig Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ProtocolException($"{path}: no such file (`kiln workspace init` creates it)");
        }
        try
        {
            return FromJson(JsonValues.ParseDocument(bytes, "content"));
        }
        catch (ProtocolException ex)
        {
            throw ex.InFile(path);
        }
    }

    public static WorkspaceConfig FromJson(JsonNode? node)
    {
        var o = JsonValues.GetObject(node, "kiln.json");
        JsonValues.RejectUnknownKeys(o, Known, "");
        var name = JsonValues.GetString(o["name"], "name");
        if (string.IsNullOrWhiteSpace(name)) throw new ProtocolException("name: must not be empty");
        var (executor, slurm) = ExecutorSection(o["executor"]);
        return new WorkspaceConfig
        {
            Name = name,
            Train = o.ContainsKey("train") ? Commands(o["train"], "train") : DefaultTrain,
            Trial = o.ContainsKey("trial") ? Commands(o["trial"], "trial") : DefaultTrial,
            Executor = executor,
            Slurm = slurm,
            Defaults = o["defaults"] is null ? [] : (JsonObject)JsonValues.GetObject(o["defaults"], "defaults").DeepClone(),
        };
    }

    /// <summary><c>"local"</c>, <c>"slurm"</c>, or an object naming its <c>kind</c> with the executor's settings.</summary>
    private static (string Kind, SlurmOptions? Slurm) ExecutorSection(JsonNode? node)
    {
        if (node is null) return (LocalExecutor, null);
        string kind;
        if (node is JsonObject section)
        {
            kind = JsonValues.GetOptionalString(section, "kind", "executor.")
                ?? throw new ProtocolException($"executor.kind: missing (one of {string.Join(", ", Executors)})");
        }
        else kind = JsonValues.GetString(node, "executor");
        if (!Executors.Contains(kind))
            throw new ProtocolException($"executor{(node is JsonObject ? ".kind" : "")}: unknown executor '{kind}' (known: {string.Join(", ", Executors)})");
        if (node is not JsonObject settings) return (kind, null);
        if (kind == LocalExecutor)
        {
            JsonValues.RejectUnknownKeys(settings, ["kind"], "executor: ");
            return (kind, null);
        }
        return (kind, SlurmOptions.FromJson(settings));
    }

    /// <summary>A list of commands, each a non-empty array of strings whose first names the program.</summary>
    private static List<IReadOnlyList<string>> Commands(JsonNode? node, string key)
    {
        if (node is not JsonArray list) throw new ProtocolException($"{key}: expected a list of commands, each an array of strings like [\"dotnet\", \"run\"], got {JsonValues.Show(node)}");
        var commands = new List<IReadOnlyList<string>>(list.Count);
        for (var i = 0; i < list.Count; i++)
        {
            var where = $"{key}[{i}]";
            if (list[i] is not JsonArray argv)
            {
                var hint = list[i] is JsonValue v && v.TryGetValue(out string? text)
                    ? $"; write it as an array of arguments, e.g. [{string.Join(", ", text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(a => JsonValue.Create(a).ToJsonString()))}]"
                    : "";
                throw new ProtocolException($"{where}: expected an array of strings (the program and its arguments), got {JsonValues.Show(list[i])}{hint}");
            }
            if (argv.Count == 0) throw new ProtocolException($"{where}: expected the program and its arguments, got an empty array");
            var args = new string[argv.Count];
            for (var j = 0; j < argv.Count; j++) args[j] = JsonValues.GetString(argv[j], $"{where}[{j}]");
            if (string.IsNullOrWhiteSpace(args[0])) throw new ProtocolException($"{where}[0]: the program must not be empty");
            commands.Add(args);
        }
        return commands;
    }

    public JsonObject ToJson() => new()
    {
        ["name"] = Name,
        ["train"] = CommandsJson(Train),
        ["trial"] = CommandsJson(Trial),
        ["executor"] = Slurm is null ? Executor : Slurm.ToJson(),
        ["defaults"] = Defaults.DeepClone(),
    };

    private static JsonArray CommandsJson(IReadOnlyList<IReadOnlyList<string>> commands) =>
        new(commands.Select(argv => (JsonNode?)new JsonArray(argv.Select(a => (JsonNode?)JsonValue.Create(a)).ToArray())).ToArray());

    /// <summary>Writes the file atomically, indented, each command on one line: <c>["dotnet", "run", "--project", "train"]</c>.</summary>
    public void Write(string path) => AtomicFile.WriteAllText(path, Format());

    public string Format()
    {
        var sb = new StringBuilder("{\n");
        sb.Append("  \"name\": ").Append(Json(Name)).Append(",\n");
        foreach (var (key, commands) in new[] { ("train", Train), ("trial", Trial) })
        {
            sb.Append($"  \"{key}\": [");
            for (var i = 0; i < commands.Count; i++)
                sb.Append(i == 0 ? "\n" : ",\n").Append("    [").AppendJoin(", ", commands[i].Select(Json)).Append(']');
            sb.Append(commands.Count == 0 ? "],\n" : "\n  ],\n");
        }
        sb.Append("  \"executor\": ").Append(Slurm is null ? Json(Executor) : Slurm.ToJson().ToJsonString(Relaxed)).Append(",\n");
        sb.Append("  \"defaults\": ").Append(Defaults.ToJsonString(Indented).Replace("\n", "\n  ", StringComparison.Ordinal)).Append('\n');
        return sb.Append("}\n").ToString();
    }

    private static string Json(string text) => JsonValue.Create(text).ToJsonString(Relaxed);

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}
