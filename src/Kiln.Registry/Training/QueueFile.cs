using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Registry.Training;

/// <summary>
/// A queue file (seed 003's format): <c>{"queue": [{…hyper-parameters…}, …], "start": 0, "end": 0}</c>; the runs
/// <c>kiln queue run</c> makes are entries <c>start</c> (included) to <c>end</c> (excluded).
/// </summary>
public sealed record QueueFile(IReadOnlyList<JsonObject> Queue, int Start, int End)
{
    /// <summary>Writes an empty queue; an existing file is kept unless <paramref name="replace"/>.</summary>
    public static void Init(string path, bool replace)
    {
        if (File.Exists(path) && !replace)
            throw new ProtocolException($"{path}: exists, kept (--force replaces it with an empty queue)");
        AtomicFile.WriteJson(path, new JsonObject { ["queue"] = new JsonArray(), ["start"] = 0, ["end"] = 0 });
    }

    /// <summary>Reads and checks a queue file: entries are objects, and 0 ≤ start &lt; end ≤ the number of entries.</summary>
    public static QueueFile Read(string path)
    {
        if (!File.Exists(path)) throw new ProtocolException($"{path}: no such queue file (`kiln queue init {path}` writes an empty one)");
        var root = JsonValues.ParseDocument(File.ReadAllBytes(path), path) as JsonObject
            ?? throw new ProtocolException($"{path}: expected {{\"queue\": [...], \"start\": 0, \"end\": N}}");
        JsonValues.RejectUnknownKeys(root, ["queue", "start", "end"], $"{path}: ");
        if (root["queue"] is not JsonArray list) throw new ProtocolException($"{path}: queue: expected a list of hyper-parameter objects");
        var entries = new List<JsonObject>();
        for (var i = 0; i < list.Count; i++)
            entries.Add(list[i] as JsonObject ?? throw new ProtocolException($"{path}: queue[{i}]: expected an object of hyper-parameters, got {JsonValues.Show(list[i])}"));
        var start = (int)JsonValues.GetLong(root["start"], $"{path}: start");
        var end = (int)JsonValues.GetLong(root["end"], $"{path}: end");
        if (start < 0 || start >= end || end > entries.Count)
            throw new ProtocolException($"{path}: bad range: start {start}, end {end} with {entries.Count} entr{(entries.Count == 1 ? "y" : "ies")} (need 0 <= start < end <= {entries.Count})");
        return new QueueFile(entries, start, end);
    }

    /// <summary>The entries to run, in order.</summary>
    public IEnumerable<(int Index, JsonObject Params)> Selected() => Enumerable.Range(Start, End - Start).Select(i => (i, Queue[i]));
}
