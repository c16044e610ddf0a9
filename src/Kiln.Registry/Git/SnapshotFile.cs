using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Registry.Git;

/// <summary>
/// <c>kiln.snapshot.json</c> in a run directory: the run's code snapshot,
/// <c>{"commit", "ref", "head", "branch", "dirty"}</c>, written whole (temporary file, then rename).
/// </summary>
public static class SnapshotFile
{
    private static readonly string[] Fields = ["commit", "ref", "head", "branch", "dirty"];

    public static string PathIn(string runDirectory) => Path.Combine(Path.GetFullPath(runDirectory), RunFiles.Snapshot);

    public static JsonObject ToJson(Snapshot snapshot) => new()
    {
        ["commit"] = snapshot.Commit,
        ["ref"] = snapshot.Ref,
        ["head"] = snapshot.Head,
        ["branch"] = snapshot.Branch,
        ["dirty"] = snapshot.Dirty,
    };

    /// <summary>Reads a snapshot document; a missing or mistyped field is a <see cref="ProtocolException"/> naming it.</summary>
    public static Snapshot FromJson(JsonNode? node)
    {
        var o = JsonValues.GetObject(node, "snapshot");
        JsonValues.RejectUnknownKeys(o, Fields, "");
        string Required(string key) => o[key] is null ? throw new ProtocolException($"{key}: missing") : JsonValues.GetString(o[key], key);
        return new Snapshot(
            Required("commit"),
            Required("ref"),
            JsonValues.GetOptionalString(o, "head"),
            JsonValues.GetOptionalString(o, "branch"),
            o["dirty"] is not null && JsonValues.GetBool(o["dirty"], "dirty"));
    }

    /// <summary>Writes <c>kiln.snapshot.json</c> into <paramref name="runDirectory"/> (made when missing).</summary>
    public static void Write(string runDirectory, Snapshot snapshot) => AtomicFile.WriteJson(PathIn(runDirectory), ToJson(snapshot));

    /// <summary>The snapshot recorded in <paramref name="runDirectory"/>, or null when it has none.</summary>
    public static Snapshot? Read(string runDirectory)
    {
        var path = PathIn(runDirectory);
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
        var node = JsonValues.ParseDocument(bytes, path);
        try { return FromJson(node); }
        catch (ProtocolException ex) { throw ex.InFile(path); }
    }
}
