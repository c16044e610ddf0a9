using System.Text.Json.Nodes;

namespace Kiln.Registry.Records;

/// <summary>
/// One run of <c>kiln experiment</c> (curifactory's store.json entry): its reference <c>{experiment}_{n}_{timestamp}</c>,
/// the parameter sets by file with their hashes, the code (full commit, dirty flag and the snapshot ref that keeps the
/// uncommitted changes), the command line, the status, notes and the line that reproduces it.
/// </summary>
public sealed record ExperimentRunRecord
{
    public required string Reference { get; init; }
    public required string Experiment { get; init; }
    public required int RunNumber { get; init; }

    /// <summary>Unix seconds.</summary>
    public required double Started { get; init; }
    public double? Ended { get; init; }

    /// <summary>running, completed, failed, stopped.</summary>
    public required string Status { get; init; }

    /// <summary><c>{file: [[name, hash], …]}</c>.</summary>
    public JsonObject Params { get; init; } = [];
    public string? GitCommit { get; init; }
    public bool? Dirty { get; init; }
    public string? SnapshotRef { get; init; }
    public string? Cli { get; init; }
    public string? Host { get; init; }
    public string? Notes { get; init; }
    public string? Reproduce { get; init; }
    public string? Error { get; init; }

    /// <summary>The <c>--store-full</c> folder, relative to the workspace.</summary>
    public string? FullStore { get; init; }

    /// <summary>The report folder, relative to the workspace.</summary>
    public string? Report { get; init; }

    public JsonObject ToJson() => new()
    {
        ["reference"] = Reference,
        ["experiment_name"] = Experiment,
        ["run_number"] = RunNumber,
        ["started"] = Started,
        ["ended"] = Ended,
        ["status"] = Status,
        ["params"] = Params.DeepClone(),
        ["commit"] = GitCommit,
        ["workdir_dirty"] = Dirty,
        ["snapshot_ref"] = SnapshotRef,
        ["cli"] = Cli,
        ["hostname"] = Host,
        ["notes"] = Notes,
        ["reproduce"] = Reproduce,
        ["error"] = Error,
        ["full_store"] = FullStore,
        ["report"] = Report,
    };

    /// <summary>
    /// The record a <c>run_info.json</c> holds (<see cref="ToJson"/>'s shape), or null when the file is not one: what
    /// <c>kiln registry rebuild</c> reads the experiment runs back from.
    /// </summary>
    public static ExperimentRunRecord? FromJson(JsonObject o)
    {
        ArgumentNullException.ThrowIfNull(o);
        string? Text(string key) => o[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        double? Number(string key) => o[key] is JsonValue v && v.TryGetValue<double>(out var d) ? d : null;
        if (Text("reference") is not { } reference || Text("experiment_name") is not { } experiment || Number("run_number") is not { } number
            || Number("started") is not { } started || Text("status") is not { } status)
            return null;
        return new ExperimentRunRecord
        {
            Reference = reference,
            Experiment = experiment,
            RunNumber = (int)number,
            Started = started,
            Ended = Number("ended"),
            Status = status,
            Params = o["params"] is JsonObject p ? (JsonObject)p.DeepClone() : [],
            GitCommit = Text("commit"),
            Dirty = o["workdir_dirty"] is JsonValue d && d.TryGetValue<bool>(out var dirty) ? dirty : null,
            SnapshotRef = Text("snapshot_ref"),
            Cli = Text("cli"),
            Host = Text("hostname"),
            Notes = Text("notes"),
            Reproduce = Text("reproduce"),
            Error = Text("error"),
            FullStore = Text("full_store"),
            Report = Text("report"),
        };
    }
}
