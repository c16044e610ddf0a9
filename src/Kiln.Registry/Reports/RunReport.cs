using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Kernel;
using Kiln.Metrics;
using Kiln.Protocol;
using Kiln.Runs;

namespace Kiln.Registry.Reports;

/// <summary>What <see cref="RunReport.Write"/> wrote.</summary>
public sealed record RunReportResult(string Directory, string Html, string? Weights, IReadOnlyList<string> Problems);

/// <summary>
/// <c>kiln report</c>: a folder holding a run's weights and one self-contained HTML page — the run's record, its code
/// snapshot, architecture, parameters, trial result and final metrics, its metric curves as static plots, and the
/// ledger of the changes made while it trained. Read from the run directory's files alone.
/// </summary>
public static class RunReport
{
    public const string HtmlFile = "report.html";
    private const int MostCharts = 8;

    /// <summary>Writes the report of <paramref name="runDir"/> into <paramref name="outDir"/> (created; files Kiln writes there are replaced, others kept).</summary>
    public static RunReportResult Write(string runDir, string outDir, string? id = null)
    {
        runDir = Path.GetFullPath(runDir);
        if (!Directory.Exists(runDir)) throw new ProtocolException($"{runDir}: no such run directory");
        outDir = Path.GetFullPath(outDir);
        Directory.CreateDirectory(outDir);
        var problems = new List<string>();
        id ??= Path.GetFileName(runDir);

        RunState.TryRead(runDir, out var info, out var infoError);
        if (infoError is not null) problems.Add(infoError);
        var model = ReadObject(runDir, RunFiles.Model, problems);
        var parameters = ReadObject(runDir, RunFiles.Params, problems) ?? info?.Params;
        var result = ReadObject(runDir, RunFiles.TrialResult, problems);
        var snapshot = ReadObject(runDir, "kiln.snapshot.json", problems);
        var ledger = File.Exists(Path.Combine(runDir, RunFiles.Ledger)) ? Ledger.ReadAll(Path.Combine(runDir, RunFiles.Ledger), problems) : [];

        string? weights = null;
        var weightsSource = Path.Combine(runDir, RunFiles.Weights);
        if (File.Exists(weightsSource))
        {
            weights = Path.Combine(outDir, RunFiles.Weights);
            File.Copy(weightsSource, weights, overwrite: true);
        }

        var page = new ReportPage($"Run {id}");
        page.Section("Run", ReportPage.Table(["field", "value"], Rows(
            ("id", id), ("directory", runDir), ("kind", info?.Kind), ("config", info?.Config), ("status", info?.Status),
            ("started", Time(info?.Start)), ("ended", Time(info?.End)), ("host", info?.Host), ("seed", info?.Seed?.ToString(CultureInfo.InvariantCulture)),
            ("error", info?.Error))));
        page.Section("Code", snapshot is null
            ? ReportPage.Paragraph(info?.GitCommit is { } head ? $"No code snapshot; the repository was at {head} when the run started." : "No code snapshot was taken for this run.")
            : ReportPage.Table(["field", "value"], Rows(
                ("snapshot commit", Str(snapshot["commit"])), ("ref", Str(snapshot["ref"])), ("branch", Str(snapshot["branch"]) ?? "(detached)"),
                ("HEAD", Str(snapshot["head"])), ("uncommitted changes", snapshot["dirty"] is JsonValue d && d.TryGetValue<bool>(out var dirty) ? (dirty ? "yes (in the snapshot)" : "no") : null),
                ("restore", $"kiln revert {id}"))));
        if (model is not null)
        {
            page.Section("Architecture", ReportPage.Paragraph($"fingerprint {Str(model["fingerprint"]) ?? "—"}, {Str(model["parameters"]) ?? "?"} parameters")
                + ReportPage.Pre(Str(model["summary"]) ?? ""));
        }
        page.Section("Hyper-parameters", Pairs(parameters));
        page.Section("Trial result", result is null ? ReportPage.Paragraph("Not trialled yet.") : Pairs(result));
        page.Section("Final metrics", Pairs(info?.Metrics));
        page.Section("Metric curves", Charts(runDir, problems));
        page.Section("Changes while training", LedgerTable(ledger));
        var files = new List<(string, string?)> { (HtmlFile, "this page") };
        if (weights is not null) files.Add((RunFiles.Weights, $"{new FileInfo(weights).Length:N0} bytes, sha256 {Sha256(weights)}"));
        page.Section("Files", ReportPage.Table(["file", "about"], Rows([.. files])));
        if (problems.Count > 0) page.Section("Problems", ReportPage.List(problems));

        var html = Path.Combine(outDir, HtmlFile);
        AtomicFile.WriteAllText(html, page.Render());
        return new RunReportResult(outDir, html, weights, problems);
    }

    private static JsonObject? ReadObject(string dir, string name, List<string> problems) =>
        JsonObjectFile.TryRead(Path.Combine(dir, name), problems);

    private static string Charts(string runDir, List<string> problems)
    {
        var reader = new MetricsReader(Path.Combine(runDir, RunFiles.Metrics));
        try
        {
            reader.Read();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            problems.Add($"{RunFiles.Metrics}: {ex.Message}");
            return ReportPage.Paragraph("The metrics could not be read.");
        }
        var names = reader.Series.Keys.Order(StringComparer.Ordinal).ToList();
        if (names.Count == 0) return ReportPage.Paragraph("No metrics were logged.");
        var charts = DefaultMetrics.Names(names).Take(MostCharts)
            .Select(n => ReportPage.Figure(MetricPlot.Svg(n, [(n, reader.Series[n])]), n));
        var more = names.Count > MostCharts ? ReportPage.Paragraph($"{names.Count} metrics in all; the dashboard draws any of them.") : "";
        return string.Concat(charts) + more;
    }

    private static string LedgerTable(List<LedgerEntry> ledger)
    {
        var changes = ledger.Where(e => e.Module is not null).ToList();
        if (changes.Count == 0) return ReportPage.Paragraph("No command reached the run: it trained as configured.");
        return ReportPage.Table(["#", "step", "source", "command", "decision", "change", "notes"], changes.Select(e => (IReadOnlyList<string?>)
        [
            e.Seq.ToString(CultureInfo.InvariantCulture), e.Step?.ToString(CultureInfo.InvariantCulture), e.Source,
            string.Join(' ', new[] { e.Module, e.Op, e.Id }.Where(s => s is not null)), e.Decision,
            (e.Payload is { Count: > 0 } ? e.Payload : e.Params)?.ToJsonString(), e.Error ?? e.Notes,
        ]).ToList());
    }

    private static string Pairs(JsonObject? values) => values is null || values.Count == 0
        ? ReportPage.Paragraph("None recorded.")
        : ReportPage.Table(["name", "value"], values.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (IReadOnlyList<string?>)[kv.Key, Str(kv.Value)]).ToList());

    private static List<IReadOnlyList<string?>> Rows(params (string Name, string? Value)[] rows) =>
        rows.Where(r => r.Value is not null).Select(r => (IReadOnlyList<string?>)[r.Name, r.Value]).ToList();

    private static string? Str(JsonNode? node) => node switch
    {
        null => null,
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => node.ToJsonString(),
    };

    private static string? Time(double? seconds) =>
        seconds is { } s ? DateTimeOffset.FromUnixTimeMilliseconds((long)(s * 1000)).ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture) : null;

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
