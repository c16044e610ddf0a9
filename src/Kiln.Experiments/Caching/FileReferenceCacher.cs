using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Kiln.IO;

namespace Kiln.Experiments.Caching;

/// <summary>
/// A stage output that is a path (a string) or paths (a list of strings) to files the stage wrote elsewhere. The
/// artifact is the JSON list; its data version covers the content of every referenced file, so a referenced file that
/// changed or vanished makes the artifact corrupt (recomputed), never silently reused.
/// </summary>
public sealed class FileReferenceCacher : Cacher
{
    public override string Extension => ".json";

    public override SavedArtifact Save(string path, object? value, Type type)
    {
        var paths = Paths(value);
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in paths) files[p] = HashFile(p) ?? throw new FileNotFoundException($"FileReferenceCacher: {p} does not exist");
        var json = JsonSerializer.SerializeToUtf8Bytes(paths, JsonCacher.Options);
        AtomicFile.WriteAllBytes(path, json, durable: false);
        return new SavedArtifact(Version(json, files), json.Length, files);
    }

    public override object? Load(string path, Type type, ArtifactMetadata recorded)
    {
        if (!File.Exists(path)) throw new CorruptArtifactException($"{path}: missing");
        var json = File.ReadAllBytes(path);
        var paths = JsonSerializer.Deserialize<List<string>>(json) ?? [];
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in paths) files[p] = HashFile(p) ?? throw new CorruptArtifactException($"{path}: the referenced file {p} is gone");
        if (Version(json, files) != recorded.Version) throw new CorruptArtifactException($"{path}: a referenced file changed since it was cached");
        return type == typeof(string) ? paths.Single() : paths;
    }

    private static List<string> Paths(object? value) => value switch
    {
        string s => [Path.GetFullPath(s)],
        IEnumerable<string> many => [.. many.Select(Path.GetFullPath)],
        _ => throw new NotSupportedException($"FileReferenceCacher stores a path or a list of paths, not {value?.GetType().Name ?? "null"}"),
    };

    private static string? HashFile(string path)
    {
        if (!File.Exists(path)) return null;
        using var s = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }

    private static string Version(byte[] json, SortedDictionary<string, string> files)
    {
        var sb = new StringBuilder(Convert.ToHexStringLower(SHA256.HashData(json)));
        foreach (var (p, h) in files) sb.Append('\n').Append(p.Length).Append(':').Append(p).Append('=').Append(h);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())));
    }
}
