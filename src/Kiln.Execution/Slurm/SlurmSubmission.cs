using System.Globalization;
using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Execution.Slurm;

/// <summary>One <c>sbatch --array</c> call: its Slurm job id and the tasks of the batch it holds (from <c>Offset</c>, <c>Count</c> of them).</summary>
public sealed record SlurmArray(string JobId, int Offset, int Count);

/// <summary>A task of a submission: its place in the manifest, its name and the run directory it trains in.</summary>
public sealed record SlurmTask(int Index, string Name, string? RunDirectory, string? LogDirectory);

/// <summary>
/// What one batch submitted to Slurm left under <c>.kiln/jobs/&lt;id&gt;/</c>: <c>submission.json</c> (this record: the
/// arrays and their tasks), <c>manifest</c> (one shell line per task, read by task index), <c>array.sh</c> (the batch
/// script) and Slurm's own per-task output. Any later process — <c>kiln trials status</c>, <c>cancel</c>, the
/// dashboard — reattaches to the tasks through it, so the submitting process may end at once.
/// </summary>
public sealed record SlurmSubmission(string Id, string Folder, DateTimeOffset Submitted, IReadOnlyList<SlurmArray> Arrays, IReadOnlyList<SlurmTask> Tasks)
{
    public const string RecordFile = "submission.json";
    public const string ManifestFile = "manifest";
    public const string ScriptFile = "array.sh";

    public string RecordPath => Path.Combine(Folder, RecordFile);

    /// <summary>The Slurm id (<c>arrayid_task</c>) of task <paramref name="index"/>, or null when its array was not submitted.</summary>
    public string? SlurmId(int index)
    {
        foreach (var a in Arrays)
        {
            if (index >= a.Offset && index < a.Offset + a.Count) return $"{a.JobId}_{(index - a.Offset).ToString(CultureInfo.InvariantCulture)}";
        }
        return null;
    }

    public JsonObject ToJson() => new()
    {
        ["executor"] = "slurm",
        ["id"] = Id,
        ["submitted"] = Submitted.ToString("O", CultureInfo.InvariantCulture),
        ["arrays"] = new JsonArray(Arrays.Select(a => (JsonNode?)new JsonObject { ["job_id"] = a.JobId, ["offset"] = a.Offset, ["count"] = a.Count }).ToArray()),
        ["tasks"] = new JsonArray(Tasks.Select(t => (JsonNode?)new JsonObject
        {
            ["index"] = t.Index, ["name"] = t.Name, ["run_dir"] = t.RunDirectory, ["log_dir"] = t.LogDirectory,
        }).ToArray()),
    };

    public void Write() => AtomicFile.WriteJson(RecordPath, ToJson());

    /// <summary>Reads a submission folder's record; a damaged one is a <see cref="ProtocolException"/> naming the file and key.</summary>
    public static SlurmSubmission Read(string folder)
    {
        var path = Path.Combine(folder, RecordFile);
        try
        {
            var o = JsonObjectFile.Read(path) ?? throw new ProtocolException("no such file");
            var arrays = (o["arrays"] as JsonArray ?? throw new ProtocolException("arrays: expected an array")).Select((a, i) =>
            {
                var ao = JsonValues.GetObject(a, $"arrays[{i}]");
                return new SlurmArray(JsonValues.GetString(ao["job_id"], $"arrays[{i}].job_id"), JsonValues.GetInt(ao["offset"], $"arrays[{i}].offset", 0),
                    JsonValues.GetInt(ao["count"], $"arrays[{i}].count", 0));
            }).ToList();
            var tasks = (o["tasks"] as JsonArray ?? throw new ProtocolException("tasks: expected an array")).Select((t, i) =>
            {
                var to = JsonValues.GetObject(t, $"tasks[{i}]");
                return new SlurmTask(JsonValues.GetInt(to["index"], $"tasks[{i}].index", 0), JsonValues.GetString(to["name"], $"tasks[{i}].name"),
                    JsonValues.GetOptionalString(to, "run_dir", $"tasks[{i}]."), JsonValues.GetOptionalString(to, "log_dir", $"tasks[{i}]."));
            }).ToList();
            var submitted = DateTimeOffset.TryParse(JsonValues.GetString(o["submitted"], "submitted"), CultureInfo.InvariantCulture, DateTimeStyles.None, out var when)
                ? when : throw new ProtocolException($"submitted: expected a time, got {JsonValues.Show(o["submitted"])}");
            return new SlurmSubmission(JsonValues.GetString(o["id"], "id"), Path.GetFullPath(folder), submitted, arrays, tasks);
        }
        catch (ProtocolException ex)
        {
            throw ex.InFile(path);
        }
    }

    /// <summary>
    /// Every submission recorded under <paramref name="jobsDir"/>, oldest first; a damaged record is reported in
    /// <paramref name="problems"/> and skipped, so one bad folder hides no other.
    /// </summary>
    public static IReadOnlyList<SlurmSubmission> ReadAll(string jobsDir, ICollection<string>? problems = null)
    {
        if (!Directory.Exists(jobsDir)) return [];
        var all = new List<SlurmSubmission>();
        foreach (var folder in Directory.EnumerateDirectories(jobsDir))
        {
            if (!File.Exists(Path.Combine(folder, RecordFile))) continue;
            try { all.Add(Read(folder)); }
            catch (Exception ex) when (ex is ProtocolException or IOException or UnauthorizedAccessException) { problems?.Add(ex.Message); }
        }
        return all.OrderBy(s => s.Submitted).ThenBy(s => s.Id, StringComparer.Ordinal).ToList();
    }

    /// <summary>For each run directory, the Slurm id of its latest task: a later submission of the same run supersedes an earlier one.</summary>
    public static Dictionary<string, (SlurmSubmission Submission, string SlurmId)> Latest(IEnumerable<SlurmSubmission> submissions)
    {
        var latest = new Dictionary<string, (SlurmSubmission, string)>(StringComparer.Ordinal);
        foreach (var s in submissions)
        {
            foreach (var t in s.Tasks)
            {
                if (t.RunDirectory is null || s.SlurmId(t.Index) is not { } id) continue;
                latest[Path.GetFullPath(t.RunDirectory)] = (s, id);
            }
        }
        return latest;
    }
}
