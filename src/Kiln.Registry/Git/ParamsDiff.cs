using Kiln.IO;
using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Registry.Git;

/// <summary>One hyper-parameter that differs between two runs; nested objects are flattened to dotted keys (<c>opt.lr</c>).</summary>
public sealed record ParamChange(string Key, JsonNode? From, JsonNode? To);

/// <summary>The hyper-parameters added, removed and changed from one run to another.</summary>
public sealed record ParamsDiff(IReadOnlyList<ParamChange> Added, IReadOnlyList<ParamChange> Removed, IReadOnlyList<ParamChange> Changed)
{
    public bool IsEmpty => Added.Count == 0 && Removed.Count == 0 && Changed.Count == 0;

    /// <summary>Compares two parameter objects key by key (sorted), nested objects by their dotted keys.</summary>
    public static ParamsDiff Compare(JsonObject from, JsonObject to)
    {
        var a = Flatten(from);
        var b = Flatten(to);
        var added = b.Keys.Where(k => !a.ContainsKey(k)).Order(StringComparer.Ordinal).Select(k => new ParamChange(k, null, b[k])).ToList();
        var removed = a.Keys.Where(k => !b.ContainsKey(k)).Order(StringComparer.Ordinal).Select(k => new ParamChange(k, a[k], null)).ToList();
        var changed = a.Keys.Where(k => b.ContainsKey(k) && !JsonNode.DeepEquals(a[k], b[k])).Order(StringComparer.Ordinal)
            .Select(k => new ParamChange(k, a[k], b[k])).ToList();
        return new ParamsDiff(added, removed, changed);
    }

    /// <summary>
    /// The parameters a run recorded: <c>kiln.params.json</c> (its <c>params</c> object when it has one, else the whole
    /// object), else the <c>params</c> of <c>kiln.run.json</c>; null when it recorded none or they cannot be read.
    /// </summary>
    public static JsonObject? Read(string runDirectory)
    {
        if (ReadObject(Path.Combine(runDirectory, RunFiles.Params)) is { } p)
            return p["params"] as JsonObject ?? p;
        return ReadObject(Path.Combine(runDirectory, RunFiles.Run))?["params"] as JsonObject;
    }

    public JsonObject ToJson()
    {
        static JsonObject Values(IEnumerable<ParamChange> changes, Func<ParamChange, JsonNode?> pick)
        {
            var o = new JsonObject();
            foreach (var c in changes) o[c.Key] = pick(c)?.DeepClone();
            return o;
        }
        var changed = new JsonObject();
        foreach (var c in Changed) changed[c.Key] = new JsonObject { ["from"] = c.From?.DeepClone(), ["to"] = c.To?.DeepClone() };
        return new JsonObject
        {
            ["added"] = Values(Added, c => c.To),
            ["removed"] = Values(Removed, c => c.From),
            ["changed"] = changed,
        };
    }

    private static JsonObject? ReadObject(string path)
    {
        try
        {
            return JsonObjectFile.Read(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ProtocolException)
        {
            return null;
        }
    }

    private static Dictionary<string, JsonNode?> Flatten(JsonObject obj)
    {
        var flat = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        void Walk(JsonObject o, string prefix)
        {
            foreach (var (k, v) in o)
            {
                var key = prefix + k;
                if (v is JsonObject inner && inner.Count > 0) Walk(inner, key + ".");
                else flat[key] = v;
            }
        }
        Walk(obj, "");
        return flat;
    }
}
