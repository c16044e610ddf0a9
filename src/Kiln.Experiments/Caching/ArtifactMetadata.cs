using System.Text.Json;
using System.Text.Json.Nodes;

namespace Kiln.Experiments.Caching;

/// <summary>
/// The metadata file beside each artifact (<c>…_metadata.json</c>): curifactory's keys (<c>artifact_generated</c>,
/// <c>params_hash</c>, <c>params_name</c>, <c>record_name</c>, <c>stage</c>, <c>artifact_name</c>, <c>cacher_type</c>,
/// <c>prior_records</c>, <c>params</c>, <c>manager_run_info</c>, <c>preview</c>) plus what makes a key honest: the full
/// <c>stage_key</c>, the <c>data_version</c> (content hash) and <c>length</c> of the artifact, the <c>input_versions</c>
/// and the <c>code_hash</c> it was computed from. A stage output without a cacher gets one too (no artifact): it
/// records the output's data version, so downstream keys can be known without running the stage again.
/// </summary>
public sealed record ArtifactMetadata
{
    private JsonObject? _extra;
    private byte[]? _raw;

    public required string StageKey { get; init; }
    public required string Version { get; init; }
    public long Length { get; init; }
    public string? CacherType { get; init; }
    public IReadOnlyDictionary<string, string>? Files { get; init; }

    /// <summary>How many reportables the stage made (they are reloaded with a cached stage).</summary>
    public int Reportables { get; init; }

    /// <summary>Every other key of the file. A cached re-run reads hundreds of these files and needs none of it, so a
    /// read file's document is built only when asked for.</summary>
    public JsonObject Extra
    {
        get => _extra ??= _raw is null ? [] : JsonNode.Parse(_raw) as JsonObject ?? [];
        init => _extra = value;
    }

    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["stage_key"] = StageKey,
            ["data_version"] = Version,
            ["length"] = Length,
            ["cacher_type"] = CacherType,
            ["reportables"] = Reportables,
        };
        if (Files is not null)
        {
            var files = new JsonObject();
            foreach (var (p, h) in Files) files[p] = h;
            o["files"] = files;
        }
        foreach (var (k, v) in Extra)
        {
            if (!o.ContainsKey(k)) o[k] = v?.DeepClone();
        }
        return o;
    }

    /// <summary>
    /// The metadata in <paramref name="utf8"/>, or null when it is not metadata this version wrote (then the artifact is
    /// not trusted). Only the top-level keys the cache decides by are read; the rest is not built, and not even read
    /// when the file was written by <see cref="ToJson"/>, which puts those keys first.
    /// </summary>
    public static ArtifactMetadata? Parse(byte[] utf8)
    {
        ArgumentNullException.ThrowIfNull(utf8);
        string? key = null, version = null, cacher = null;
        long length = -1;
        int? reportables = null;
        Dictionary<string, string>? files = null;
        try
        {
            var r = new Utf8JsonReader(utf8);
            if (!r.Read() || r.TokenType != JsonTokenType.StartObject) return null;
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                if (r.ValueTextEquals("stage_key"u8)) key = String(ref r);
                else if (r.ValueTextEquals("data_version"u8)) version = String(ref r);
                else if (r.ValueTextEquals("cacher_type"u8)) cacher = String(ref r);
                else if (r.ValueTextEquals("length"u8)) length = r.Read() && r.TokenType == JsonTokenType.Number && r.TryGetInt64(out var n) ? n : -1;
                else if (r.ValueTextEquals("reportables"u8)) reportables = r.Read() && r.TokenType == JsonTokenType.Number && r.TryGetInt32(out var c) ? c : 0;
                else if (r.ValueTextEquals("files"u8)) files = ReadFiles(ref r);
                else if (key is not null && version is not null && reportables is not null) break;
                else if (!r.TrySkip()) return null;
            }
        }
        catch (JsonException)
        {
            return null;
        }
        if (key is null || version is null) return null;
        return new ArtifactMetadata { StageKey = key, Version = version, Length = length, CacherType = cacher, Files = files, Reportables = reportables ?? 0, _raw = utf8 };
    }

    private static string? String(ref Utf8JsonReader r)
    {
        r.Read();
        if (r.TokenType == JsonTokenType.String) return r.GetString();
        r.TrySkip();
        return null;
    }

    private static Dictionary<string, string>? ReadFiles(ref Utf8JsonReader r)
    {
        r.Read();
        if (r.TokenType != JsonTokenType.StartObject)
        {
            r.TrySkip();
            return null;
        }
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            var name = r.GetString()!;
            files[name] = String(ref r) ?? "";
        }
        return files;
    }
}
