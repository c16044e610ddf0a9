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
    public required string StageKey { get; init; }
    public required string Version { get; init; }
    public long Length { get; init; }
    public string? CacherType { get; init; }
    public IReadOnlyDictionary<string, string>? Files { get; init; }
    public JsonObject Extra { get; init; } = [];

    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["stage_key"] = StageKey,
            ["data_version"] = Version,
            ["length"] = Length,
            ["cacher_type"] = CacherType,
        };
        if (Files is not null)
        {
            var files = new JsonObject();
            foreach (var (p, h) in Files) files[p] = h;
            o["files"] = files;
        }
        foreach (var (k, v) in Extra) o[k] = v?.DeepClone();
        return o;
    }

    /// <summary>The metadata, or null when the file is not metadata this version wrote (then the artifact is not trusted).</summary>
    public static ArtifactMetadata? FromJson(JsonObject o)
    {
        if (o["stage_key"] is not JsonValue key || o["data_version"] is not JsonValue version) return null;
        if (!key.TryGetValue<string>(out var k) || !version.TryGetValue<string>(out var v)) return null;
        var length = o["length"] is JsonValue l && l.TryGetValue<long>(out var n) ? n : -1;
        Dictionary<string, string>? files = null;
        if (o["files"] is JsonObject f) files = f.ToDictionary(p => p.Key, p => p.Value?.GetValue<string>() ?? "");
        return new ArtifactMetadata
        {
            StageKey = k,
            Version = v,
            Length = length,
            CacherType = o["cacher_type"]?.GetValue<string>(),
            Files = files,
            Extra = o,
        };
    }
}
