using System.Net;
using System.Text;

namespace Kiln.Registry.Reports;

/// <summary>A self-contained HTML page of sections (styles inline, plots as inline SVG, no script): every value is escaped.</summary>
public sealed class ReportPage(string title)
{
    private readonly StringBuilder _body = new();

    public void Section(string heading, string html) =>
        _body.Append("<section><h2>").Append(E(heading)).Append("</h2>\n").Append(html).Append("</section>\n");

    public string Render() => $$"""
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>{{E(title)}}</title>
        <meta name="generator" content="kiln">
        <style>
        body { font: 14px/1.45 system-ui, sans-serif; color: #1f2937; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; }
        h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; border-bottom: 1px solid #e5e7eb; padding-bottom: .2rem; margin-top: 2rem; }
        table { border-collapse: collapse; margin: .5rem 0; } th, td { border: 1px solid #e5e7eb; padding: .25rem .6rem; text-align: left; vertical-align: top; }
        th { background: #f9fafb; font-weight: 600; } td { font-family: ui-monospace, monospace; font-size: 12.5px; }
        pre { background: #f9fafb; border: 1px solid #e5e7eb; padding: .6rem; overflow: auto; font-size: 12px; }
        figure { display: inline-block; margin: .5rem 1rem .5rem 0; } figcaption { color: #6b7280; font-size: 12px; }
        </style></head>
        <body><h1>{{E(title)}}</h1>
        {{_body}}</body></html>
        """;

    public static string E(string? text) => WebUtility.HtmlEncode(text ?? "");

    public static string Paragraph(string text) => $"<p>{E(text)}</p>\n";

    public static string Pre(string text) => $"<pre>{E(text)}</pre>\n";

    public static string List(IEnumerable<string> items) => "<ul>" + string.Concat(items.Select(i => $"<li>{E(i)}</li>")) + "</ul>\n";

    /// <summary>A figure of trusted markup (an SVG Kiln drew) with an escaped caption.</summary>
    public static string Figure(string svg, string caption) => $"<figure>{svg}<figcaption>{E(caption)}</figcaption></figure>\n";

    public static string Table(IReadOnlyList<string> headers, IReadOnlyList<IReadOnlyList<string?>> rows)
    {
        var sb = new StringBuilder("<table><thead><tr>");
        foreach (var h in headers) sb.Append("<th>").Append(E(h)).Append("</th>");
        sb.Append("</tr></thead><tbody>\n");
        foreach (var row in rows)
        {
            sb.Append("<tr>");
            foreach (var cell in row) sb.Append("<td>").Append(E(cell)).Append("</td>");
            sb.Append("</tr>\n");
        }
        return sb.Append("</tbody></table>\n").ToString();
    }
}
