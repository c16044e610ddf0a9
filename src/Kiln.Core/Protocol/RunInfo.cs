using System.Text.Json.Nodes;

namespace Kiln.Protocol;

/// <summary><c>kiln.run.json</c>: what started the run and how it ended.</summary>
public sealed record RunInfo
{
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Stopped = "stopped";
    /// <summary>Not written by anyone: what a reader sees when a <c>running</c> run's process is gone.</summary>
    public const string Interrupted = "interrupted";

    public required string Id { get; init; }
    /// <summary>What started the run: <c>launch</c>, <c>trial</c>, <c>train</c>, <c>demo</c>.</summary>
    public required string Kind { get; init; }
    public string? Config { get; init; }
    public long? Seed { get; init; }
    public string Status { get; init; } = Running;
    public int? Pid { get; init; }
    public string? Host { get; init; }
    /// <summary>Unix seconds.</summary>
    public double? Start { get; init; }
    public double? End { get; init; }
    /// <summary>Unix seconds of the last sign of life of a running run (rewritten every few seconds).</summary>
    public double? Heartbeat { get; init; }
    public string? GitCommit { get; init; }
    public JsonObject? Params { get; init; }
    /// <summary>Why the run failed, when it did.</summary>
    public string? Error { get; init; }

    /// <summary>The last value of each metric when the run ended (for listings that should not read the metrics file).</summary>
    public JsonObject? Metrics { get; init; }

    /// <summary>
    /// The language of the run's kernel when it is not .NET: <c>python</c> for a script on <c>clients/python</c>. Its
    /// hot-loaded callbacks are files of that language (<c>kiln cb load --file x.py</c>). Null: the C# kernel.
    /// </summary>
    public string? Kernel { get; init; }

    /// <summary>The <see cref="Kernel"/> of a PyTorch script's run.</summary>
    public const string PythonKernel = "python";

    public JsonObject ToJson() => new JsonObject
    {
        ["id"] = Id,
        ["kind"] = Kind,
        ["config"] = Config,
        ["seed"] = Seed,
        ["status"] = Status,
        ["pid"] = Pid,
        ["host"] = Host,
        ["start"] = Start,
        ["end"] = End,
        ["heartbeat"] = Heartbeat,
        ["git_commit"] = GitCommit,
        ["params"] = Params?.DeepClone(),
        ["error"] = Error,
        ["metrics"] = Metrics?.DeepClone(),
    }.WithKernel(Kernel);

    public static RunInfo FromJson(JsonNode? node)
    {
        var o = JsonValues.GetObject(node, "run info");
        return new RunInfo
        {
            Id = JsonValues.GetString(o["id"], "id"),
            Kind = JsonValues.GetString(o["kind"], "kind"),
            Config = JsonValues.GetOptionalString(o, "config"),
            Seed = o["seed"] is null ? null : JsonValues.GetLong(o["seed"], "seed"),
            Status = JsonValues.GetOptionalString(o, "status") ?? Running,
            Pid = o["pid"] is null ? null : JsonValues.GetInt(o["pid"], "pid"),
            Host = JsonValues.GetOptionalString(o, "host"),
            Start = o["start"] is null ? null : JsonValues.GetDouble(o["start"], "start"),
            End = o["end"] is null ? null : JsonValues.GetDouble(o["end"], "end"),
            Heartbeat = o["heartbeat"] is null ? null : JsonValues.GetDouble(o["heartbeat"], "heartbeat"),
            GitCommit = JsonValues.GetOptionalString(o, "git_commit"),
            Params = o["params"] as JsonObject is { } p ? (JsonObject)p.DeepClone() : null,
            Error = JsonValues.GetOptionalString(o, "error"),
            Metrics = o["metrics"] as JsonObject is { } m ? (JsonObject)m.DeepClone() : null,
            Kernel = JsonValues.GetOptionalString(o, "kernel"),
        };
    }
}

internal static class RunInfoJson
{
    /// <summary>The <c>kernel</c> field is written only by runs whose kernel is not .NET's.</summary>
    public static JsonObject WithKernel(this JsonObject o, string? kernel)
    {
        if (kernel is not null) o["kernel"] = kernel;
        return o;
    }
}
