using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Kiln.Experiments.Loading;
using Kiln.IO;
using Kiln.Registry.Records;

namespace Kiln.Experiments.Reporting;

/// <summary>
/// <c>reports/index.html</c>: every run, grouped by experiment (with its file's description), newest first — status,
/// link, dirty mark, host, error, full store, parameter set names, the first line of the notes, the command.
/// <see cref="Rebuild"/> (<c>kiln reports --update</c>) makes it from the <c>run_info.json</c> of every report folder,
/// so reports copied in from other machines are listed too.
/// </summary>
public static class ReportIndex
{
    public static void Write(string reportsDir, IEnumerable<ExperimentRunRecord> runs, ExperimentCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentNullException.ThrowIfNull(catalog);
        var descriptions = catalog.Experiments().ToDictionary(e => e.Name, e => e.Description);
        var sb = new StringBuilder($"<!doctype html><html><head><meta charset=\"utf-8\"><title>Experiment reports</title><style>{RunReportWriter.Style}</style></head><body><h1>Experiment reports</h1>");
        foreach (var group in runs.GroupBy(r => r.Experiment).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            sb.Append(CultureInfo.InvariantCulture, $"<h2>{E(group.Key)}</h2>");
            if (descriptions.GetValueOrDefault(group.Key) is { } d) sb.Append(CultureInfo.InvariantCulture, $"<p>{E(d)}</p>");
            sb.Append("<ul>");
            foreach (var r in group.OrderByDescending(r => r.Started))
            {
                var names = string.Join(", ", r.Params.SelectMany(f => (f.Value?.AsArray() ?? []).Select(s => s?[0]?.GetValue<string>())).Distinct());
                var note = r.Notes?.Split('\n')[0];
                sb.Append(CultureInfo.InvariantCulture,
                    $"<li><span class=\"status-{E(r.Status)}\">■</span> <a href=\"{Uri.EscapeDataString(r.Reference)}/index.html\">{E(r.Reference)}</a>{(r.Dirty == true ? "*" : "")} {E(r.Host)} [{E(r.Status)}]{(r.Error is null ? "" : $" <span class=\"status-failed\">{E(r.Error)}</span>")}{(r.FullStore is null ? "" : " (full store)")} — {E(names)}{(note is null ? "" : $" <i>{E(note)}</i>")} <code>kiln {E(r.Cli)}</code></li>");
            }
            sb.Append("</ul>");
        }
        Directory.CreateDirectory(reportsDir);
        AtomicFile.WriteAllText(Path.Combine(reportsDir, "index.html"), sb.Append("</body></html>\n").ToString(), durable: false);
    }

    /// <summary>The index from the report folders themselves; returns how many runs it lists.</summary>
    public static int Rebuild(string reportsDir, ExperimentCatalog catalog)
    {
        var runs = new List<ExperimentRunRecord>();
        if (Directory.Exists(reportsDir))
        {
            foreach (var info in Directory.GetDirectories(reportsDir).Select(d => Path.Combine(d, "run_info.json")).Where(File.Exists))
            {
                if (JsonObjectFile.Read(info) is not { } o) continue;
                runs.Add(new ExperimentRunRecord
                {
                    Reference = o["reference"]?.GetValue<string>() ?? Path.GetFileName(Path.GetDirectoryName(info)!),
                    Experiment = o["experiment_name"]?.GetValue<string>() ?? "?",
                    RunNumber = o["run_number"]?.GetValue<int>() ?? 0,
                    Started = o["started"]?.GetValue<double>() ?? 0,
                    Status = o["status"]?.GetValue<string>() ?? "unknown",
                    Params = o["params"] as JsonObject is { } p ? (JsonObject)p.DeepClone() : [],
                    Dirty = o["workdir_dirty"]?.GetValue<bool?>(),
                    Host = o["hostname"]?.GetValue<string>(),
                    Cli = o["cli"]?.GetValue<string>(),
                    Notes = o["notes"]?.GetValue<string>(),
                    Error = o["error"]?.GetValue<string>(),
                    FullStore = o["full_store"]?.GetValue<string>(),
                });
            }
        }
        Write(reportsDir, runs, catalog);
        return runs.Count;
    }

    private static string E(string? s) => WebUtility.HtmlEncode(s ?? "");
}
