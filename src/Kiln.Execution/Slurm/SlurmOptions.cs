using System.Globalization;
using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Execution.Slurm;

/// <summary>
/// How jobs are submitted to a Slurm cluster: where, for how long, with what resources, how many at once. Read from
/// <c>kiln.json</c>'s <c>executor</c> section (<see cref="FromJson"/>) and overridden by command-line flags.
/// </summary>
public sealed record SlurmOptions
{
    /// <summary>The keys of <c>kiln.json</c>'s <c>executor</c> object, beside <c>kind</c>.</summary>
    public static readonly IReadOnlyList<string> Keys =
        ["kind", "partition", "account", "time", "cpus_per_task", "mem_mb", "throttle", "sbatch_args", "max_array_size", "signal_seconds", "requeue", "job_name"];

    public string? Partition { get; init; }
    public string? Account { get; init; }

    /// <summary>The time limit of each task, in <c>sbatch --time</c>'s form (<c>90</c>, <c>1:30:00</c>, <c>2-00:00:00</c>).</summary>
    public string? Time { get; init; }

    /// <summary>CPUs per task; the job's own <see cref="Jobs.JobSpec.Threads"/> when not set.</summary>
    public int? CpusPerTask { get; init; }

    /// <summary>Memory per task in MiB; the job's own <see cref="Jobs.JobSpec.MemoryMb"/> (or the cluster's default) when not set.</summary>
    public long? MemoryMb { get; init; }

    /// <summary>Tasks of one array running at once (<c>--array=0-N%T</c>); unlimited when not set.</summary>
    public int? Throttle { get; init; }

    /// <summary>Further <c>sbatch</c> arguments, one element each (<c>--qos=high</c>, <c>--constraint=a100</c>).</summary>
    public IReadOnlyList<string> SbatchArgs { get; init; } = [];

    /// <summary>
    /// The most tasks per array; the cluster's <c>MaxArraySize</c> caps it anyway. A batch above it is split into
    /// several arrays.
    /// </summary>
    public int? MaxArraySize { get; init; }

    /// <summary>Seconds before the time limit (or a preemption) when a task is warned with SIGUSR1 (<c>--signal=B:USR1@S</c>); 0: no warning.</summary>
    public int SignalSeconds { get; init; } = 90;

    /// <summary>A task warned by the signal, and stopped by it before it finished, is put back in the queue (<c>scontrol requeue</c>).</summary>
    public bool Requeue { get; init; } = true;

    /// <summary>The Slurm job name of the arrays.</summary>
    public string JobName { get; init; } = "kiln";

    /// <summary>
    /// Reads the <c>executor</c> object of <c>kiln.json</c>: unknown keys and values of the wrong type are errors naming
    /// the key (<c>executor.throttle: …</c>).
    /// </summary>
    public static SlurmOptions FromJson(JsonObject o, string where = "executor")
    {
        JsonValues.RejectUnknownKeys(o, Keys, where + ": ");
        string? Text(string key) => JsonValues.GetOptionalString(o, key, where + ".");
        int? Int(string key, int min, int max = int.MaxValue) => o[key] is null ? null : JsonValues.GetInt(o[key], $"{where}.{key}", min, max);
        var args = new List<string>();
        if (o["sbatch_args"] is { } list)
        {
            if (list is not JsonArray array) throw new ProtocolException($"{where}.sbatch_args: expected an array of strings like [\"--qos=high\"], got {JsonValues.Show(list)}");
            for (var i = 0; i < array.Count; i++) args.Add(JsonValues.GetString(array[i], $"{where}.sbatch_args[{i}]"));
        }
        long? mem = null;
        if (o["mem_mb"] is { } m)
        {
            mem = JsonValues.GetLong(m, $"{where}.mem_mb");
            if (mem < 1) throw new ProtocolException($"{where}.mem_mb: must be at least 1, got {mem}");
        }
        return new SlurmOptions
        {
            Partition = Text("partition"),
            Account = Text("account"),
            Time = Text("time"),
            CpusPerTask = Int("cpus_per_task", 1),
            MemoryMb = mem,
            Throttle = Int("throttle", 1),
            SbatchArgs = args,
            MaxArraySize = Int("max_array_size", 1),
            SignalSeconds = Int("signal_seconds", 0, 65535) ?? 90,
            Requeue = o["requeue"] is not { } r || JsonValues.GetBool(r, $"{where}.requeue"),
            JobName = Text("job_name") ?? "kiln",
        };
    }

    /// <summary>The <c>executor</c> object for <c>kiln.json</c> (only what differs from the defaults).</summary>
    public JsonObject ToJson()
    {
        var o = new JsonObject { ["kind"] = "slurm" };
        if (Partition is not null) o["partition"] = Partition;
        if (Account is not null) o["account"] = Account;
        if (Time is not null) o["time"] = Time;
        if (CpusPerTask is { } c) o["cpus_per_task"] = c;
        if (MemoryMb is { } m) o["mem_mb"] = m;
        if (Throttle is { } t) o["throttle"] = t;
        if (SbatchArgs.Count > 0) o["sbatch_args"] = new JsonArray(SbatchArgs.Select(a => (JsonNode?)a).ToArray());
        if (MaxArraySize is { } s) o["max_array_size"] = s;
        if (SignalSeconds != 90) o["signal_seconds"] = SignalSeconds;
        if (!Requeue) o["requeue"] = false;
        if (JobName != "kiln") o["job_name"] = JobName;
        return o;
    }

    /// <summary>The <c>sbatch</c> arguments these options give, before the array and the script.</summary>
    public IEnumerable<string> SbatchArguments(int cpus, long? memoryMb)
    {
        yield return "--job-name=" + JobName;
        if (Partition is not null) yield return "--partition=" + Partition;
        if (Account is not null) yield return "--account=" + Account;
        if (Time is not null) yield return "--time=" + Time;
        yield return "--cpus-per-task=" + (CpusPerTask ?? cpus).ToString(CultureInfo.InvariantCulture);
        if ((MemoryMb ?? memoryMb) is { } mem) yield return "--mem=" + mem.ToString(CultureInfo.InvariantCulture) + "M";
        if (SignalSeconds > 0) yield return "--signal=B:USR1@" + SignalSeconds.ToString(CultureInfo.InvariantCulture);
        yield return Requeue ? "--requeue" : "--no-requeue";
        foreach (var a in SbatchArgs) yield return a;
    }
}
