using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kiln.Experiments.Caching;

namespace Kiln.Experiments.Reporting;

/// <summary>Raw HTML, shown as given.</summary>
public sealed class HtmlReportable(string html, string? name = null) : Reportable(name)
{
    protected internal override string Html(string fileStem, IDictionary<string, byte[]> files) => html;
}

/// <summary>A <see cref="Table"/> as an HTML table (curifactory's DFReporter).</summary>
public sealed class TableReportable(Table table, string? name = null) : Reportable(name)
{
    protected internal override string Html(string fileStem, IDictionary<string, byte[]> files)
    {
        var sb = new StringBuilder("<table class=\"data\"><thead><tr>");
        foreach (var c in table.Columns) sb.Append("<th>").Append(WebUtility.HtmlEncode(c)).Append("</th>");
        sb.Append("</tr></thead><tbody>");
        foreach (var row in table.Rows)
        {
            sb.Append("<tr>");
            foreach (var cell in row) sb.Append("<td>").Append(WebUtility.HtmlEncode(cell)).Append("</td>");
            sb.Append("</tr>");
        }
        return sb.Append("</tbody></table>").ToString();
    }
}

/// <summary>A JSON value, pretty-printed.</summary>
public sealed class JsonReportable(JsonNode? value, string? name = null) : Reportable(name)
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    protected internal override string Html(string fileStem, IDictionary<string, byte[]> files) =>
        $"<pre class=\"json\">{WebUtility.HtmlEncode(value?.ToJsonString(Indented) ?? "null")}</pre>";
}

/// <summary>An image file (PNG, SVG, JPEG), copied into the report.</summary>
public sealed class ImageReportable : Reportable
{
    private readonly byte[] _bytes;
    private readonly string _extension;

    public ImageReportable(string path, string? name = null) : base(name)
    {
        _bytes = File.ReadAllBytes(path);
        _extension = Path.GetExtension(path);
    }

    protected internal override string Html(string fileStem, IDictionary<string, byte[]> files)
    {
        files[fileStem + _extension] = _bytes;
        return $"<img src=\"reportables/{WebUtility.HtmlEncode(Uri.EscapeDataString(fileStem + _extension))}\" alt=\"{WebUtility.HtmlEncode(fileStem)}\">";
    }
}

/// <summary>Line plots of named series (ScottPlot, static SVG — no browser, no script).</summary>
public sealed class LinePlotReportable(IReadOnlyDictionary<string, IReadOnlyList<double>> series, string? name = null, string? title = null) : Reportable(name)
{
    protected internal override string Html(string fileStem, IDictionary<string, byte[]> files)
    {
        var plot = new ScottPlot.Plot();
        foreach (var (label, ys) in series)
        {
            var line = plot.Add.Scatter(Enumerable.Range(0, ys.Count).Select(i => (double)i).ToArray(), ys.ToArray());
            line.LegendText = label;
        }
        if (title is not null) plot.Title(title);
        if (series.Count > 1) plot.ShowLegend();
        return FigureReportable.Embed(plot, fileStem, files);
    }
}

/// <summary>A ScottPlot figure the stage drew, saved as SVG.</summary>
public sealed class FigureReportable(ScottPlot.Plot plot, string? name = null, int width = 640, int height = 400) : Reportable(name)
{
    protected internal override string Html(string fileStem, IDictionary<string, byte[]> files) => Embed(plot, fileStem, files, width, height);

    internal static string Embed(ScottPlot.Plot plot, string fileStem, IDictionary<string, byte[]> files, int width = 640, int height = 400)
    {
        files[fileStem + ".svg"] = Encoding.UTF8.GetBytes(plot.GetSvgXml(width, height));
        return $"<img src=\"reportables/{WebUtility.HtmlEncode(Uri.EscapeDataString(fileStem + ".svg"))}\" alt=\"{WebUtility.HtmlEncode(fileStem)}\">";
    }
}

/// <summary>A <see cref="Table"/> as a LaTeX <c>tabular</c>, shown as text to copy, and saved as a <c>.tex</c> file.</summary>
public sealed class LatexTableReportable(Table table, string? name = null) : Reportable(name)
{
    public static string Latex(Table table)
    {
        static string Esc(string s) => s.Replace("\\", "\\textbackslash{}", StringComparison.Ordinal)
            .Replace("&", "\\&", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal)
            .Replace("_", "\\_", StringComparison.Ordinal).Replace("#", "\\#", StringComparison.Ordinal);
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"\\begin{{tabular}}{{{new string('l', table.Columns.Count)}}}\n\\hline\n");
        sb.Append(string.Join(" & ", table.Columns.Select(Esc))).Append(" \\\\\n\\hline\n");
        foreach (var row in table.Rows) sb.Append(string.Join(" & ", row.Select(Esc))).Append(" \\\\\n");
        return sb.Append("\\hline\n\\end{tabular}\n").ToString();
    }

    protected internal override string Html(string fileStem, IDictionary<string, byte[]> files)
    {
        var tex = Latex(table);
        files[fileStem + ".tex"] = Encoding.UTF8.GetBytes(tex);
        return $"<pre class=\"latex\">{WebUtility.HtmlEncode(tex)}</pre>";
    }
}
