using System.Text.Json.Nodes;

namespace Kiln.Experiments.Reporting;

/// <summary>
/// Something a stage shows in the run report (curifactory's reportables). It is rendered when the stage runs — to an
/// HTML fragment and the files it links — and cached with the stage, so a cached re-run shows it again unchanged.
/// </summary>
public abstract class Reportable(string? name)
{
    /// <summary>The name shown in the report; by default its position.</summary>
    public string? Name { get; } = name;

    /// <summary>Renders to HTML; <paramref name="files"/> receives the files the HTML links to (by name, relative to the report's <c>reportables/</c> folder).</summary>
    protected internal abstract string Html(string fileStem, IDictionary<string, byte[]> files);

    internal RenderedReportable Render(Record record, string? stage, int position)
    {
        // curifactory's qualified name: [(Aggregate)_][params name_]{stage}_{name or position}
        var qualified = $"{(record.IsAggregate ? "(Aggregate)_" : "")}{(record.Params is { } p ? p.Name + "_" : "")}{stage ?? "experiment"}_{Name ?? position.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
        var stem = string.Concat(qualified.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var html = Html(stem, files);
        return new RenderedReportable(qualified, record.Index, html, files);
    }
}

/// <summary>A reportable as the report shows it: its qualified name, its record, its HTML and the files it links.</summary>
public sealed record RenderedReportable(string QualifiedName, int RecordIndex, string Html, IReadOnlyDictionary<string, byte[]> Files)
{
    public JsonObject ToJson()
    {
        var files = new JsonObject();
        foreach (var (k, v) in Files) files[k] = Convert.ToBase64String(v);
        return new JsonObject { ["name"] = QualifiedName, ["record"] = RecordIndex, ["html"] = Html, ["files"] = files };
    }

    public static RenderedReportable FromJson(JsonObject o) => new(
        o["name"]!.GetValue<string>(),
        o["record"]!.GetValue<int>(),
        o["html"]!.GetValue<string>(),
        (o["files"] as JsonObject ?? []).ToDictionary(p => p.Key, p => Convert.FromBase64String(p.Value!.GetValue<string>())));
}
