using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Kiln.Experiments.Caching;
using Kiln.Experiments.Pipeline;
using Kiln.IO;
using Kiln.Registry.Records;
using Markdig;

namespace Kiln.Experiments.Reporting;

/// <summary>
/// The run report, <c>reports/{reference}/index.html</c>: the info block (status, commit, params files, the command and
/// the line that reproduces it), notes (Markdown, via Markdig, raw HTML off), reportables, the DAG (<see cref="DagSvg"/>),
/// stage detail (each stage's status, why it ran, its key, inputs and outputs with their data versions) and the
/// parameter sets. One self-contained page: no script, no server needed. Also <c>run_info.json</c> and <c>log.txt</c>.
/// </summary>
public static class RunReportWriter
{
    private static readonly MarkdownPipeline Markdown = new MarkdownPipelineBuilder().DisableHtml().Build();

    internal const string Style = """
        body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
        table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
        .status-completed{color:#187018}.status-failed{color:#b00}.status-running{color:#b07000}
        pre{background:#f6f6f6;padding:8px;overflow:auto}code{font-size:90%}.dag{border:1px solid #ddd}
        """;

    public static string Write(string reportsDir, ExperimentRunRecord run, ExperimentManager manager, IReadOnlyList<string> log)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(manager);
        var dir = Path.Combine(reportsDir, run.Reference);
        Directory.CreateDirectory(Path.Combine(dir, "reportables"));
        foreach (var r in manager.Reportables)
        {
            foreach (var (name, bytes) in r.Files) AtomicFile.WriteAllBytes(Path.Combine(dir, "reportables", name), bytes, durable: false);
        }
        AtomicFile.WriteJson(Path.Combine(dir, "run_info.json"), run.ToJson(), durable: false);
        AtomicFile.WriteAllText(Path.Combine(dir, "log.txt"), string.Join("\n", log) + "\n", durable: false);
        AtomicFile.WriteAllText(Path.Combine(dir, "index.html"), Html(run, manager), durable: false);
        return dir;
    }

    private static string E(string? s) => WebUtility.HtmlEncode(s ?? "");

    internal static string Html(ExperimentRunRecord run, ExperimentManager manager)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<!doctype html><html><head><meta charset=\"utf-8\"><title>{E(run.Reference)}</title><style>{Style}</style></head><body>");
        sb.Append(CultureInfo.InvariantCulture, $"<h1>Report: {E(run.Experiment)} - {run.RunNumber}</h1><table class=\"info\">");
        void Row(string k, string htmlValue) => sb.Append(CultureInfo.InvariantCulture, $"<tr><th>{k}</th><td>{htmlValue}</td></tr>");
        Row("reference", E(run.Reference));
        Row("started", E(DateTimeOffset.FromUnixTimeMilliseconds((long)(run.Started * 1000)).ToString("u", CultureInfo.InvariantCulture)));
        Row("host", E(run.Host));
        Row("status", $"<span class=\"status-{E(run.Status)}\">{E(run.Status)}</span>{(run.Error is null ? "" : $": {E(run.Error)}")}");
        Row("git commit", run.GitCommit is null ? "(not in a git repository)" : $"<code>{E(run.GitCommit)}</code>{(run.Dirty == true ? $" * uncommitted changes, kept in <code>{E(run.SnapshotRef)}</code>" : "")}");
        var files = string.Join("", run.Params.Select(f => $"<li>{E(f.Key)}<ul>{string.Join("", (f.Value?.AsArray() ?? []).Select(s => $"<li>{E(s?[0]?.GetValue<string>())} - <code>{E(s?[1]?.GetValue<string>()?[..16])}</code></li>"))}</ul></li>"));
        Row("parameters", $"<ul>{files}</ul>");
        Row("command", $"<code>kiln {E(run.Cli)}</code>");
        Row("reproduce", $"<code>kiln {E(run.Reproduce)}</code>{(run.FullStore is null ? " (needs a --store-full run)" : "")}");
        Row("log", "<a href=\"log.txt\">log.txt</a>");
        sb.Append("</table>");
        if (!string.IsNullOrWhiteSpace(run.Notes)) sb.Append("<h2 id=\"notes\">Notes</h2>").Append(Markdig.Markdown.ToHtml(run.Notes, Markdown));
        sb.Append("<p><a href=\"#reportables\">Reportables</a> · <a href=\"#map\">Map</a> · <a href=\"#stages\">Stage detail</a> · <a href=\"#params\">Parameter sets</a></p>");
        sb.Append("<h2 id=\"reportables\">Reportables</h2>");
        foreach (var r in manager.Reportables)
            sb.Append(CultureInfo.InvariantCulture, $"<h3 id=\"{E(r.QualifiedName)}\">{E(r.QualifiedName)}</h3><div class=\"reportable\">{r.Html}</div>");
        sb.Append("<h2 id=\"map\">Map</h2>").Append(DagSvg.Render(manager));
        sb.Append("<h2 id=\"stages\">Stage detail</h2><table><tr><th>record</th><th>stage</th><th>status</th><th>why</th><th>inputs</th><th>outputs (data version)</th><th>time</th><th>key</th></tr>");
        foreach (var n in manager.Nodes)
        {
            var outputs = string.Join("<br>", n.OutputNames.Select((o, i) => $"{E(o)} <code>{E(n.OutputVersions[i]?[..12])}</code>"));
            var inputs = string.Join("<br>", n.InputSources.Select(i => $"{E(i.Name)} ← {E(i.From)}"));
            var time = n.Duration is { } d ? d.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s" : "";
            sb.Append(CultureInfo.InvariantCulture,
                $"<tr><td>{E(n.Record.ReferenceName)}</td><td>{E(n.Stage.Name)}</td><td>{E(n.Status.ToString().ToLowerInvariant())}</td><td>{E(n.Error ?? n.Reason)}</td><td>{inputs}</td><td>{outputs}</td><td>{time}</td><td><code>{E(n.Key?[..16])}</code></td></tr>");
        }
        sb.Append("</table><h2 id=\"params\">Parameter sets</h2>");
        foreach (var record in manager.Records.Where(r => r.Params is not null))
        {
            var json = JsonSerializer.Serialize(record.Params, record.Params!.GetType(), JsonCacher.Options);
            sb.Append(CultureInfo.InvariantCulture, $"<h3>{E(record.Params.Name)} <code>{E(record.Params.Hash[..16])}</code></h3><pre>{E(json)}</pre>");
        }
        return sb.Append("</body></html>\n").ToString();
    }

    /// <summary>Copies a folder (a report into a full store).</summary>
    public static void CopyTree(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
        }
    }
}
