using System.Globalization;
using System.Net;
using System.Text;
using Kiln.Experiments.Pipeline;

namespace Kiln.Experiments.Reporting;

/// <summary>
/// The experiment's DAG as an inline SVG, laid out without graphviz: one column per record (its stages top to bottom,
/// in the order they were declared), an arrow from each producing stage to each stage that reads it, and the status in
/// the box's colour (cached grey, ran green, failed red).
/// </summary>
public static class DagSvg
{
    private const int ColumnWidth = 210;
    private const int RowHeight = 64;
    private const int BoxWidth = 180;
    private const int BoxHeight = 40;

    public static string Render(ExperimentManager manager)
    {
        ArgumentNullException.ThrowIfNull(manager);
        var records = manager.Nodes.Select(n => n.Record).Distinct().ToList();
        var place = new Dictionary<StageNode, (double X, double Y)>();
        var rows = 0;
        for (var c = 0; c < records.Count; c++)
        {
            var nodes = records[c].Nodes;
            // An aggregate sits below everything it reads.
            var top = nodes.Count > 0 && nodes[0].Aggregated is not null ? rows : 0;
            for (var r = 0; r < nodes.Count; r++) place[nodes[r]] = (20 + c * ColumnWidth, 50 + (top + r) * RowHeight);
            rows = Math.Max(rows, top + nodes.Count);
        }
        var width = 40 + Math.Max(1, records.Count) * ColumnWidth;
        var height = 70 + rows * RowHeight;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"dag\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">");
        sb.Append("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>");
        for (var c = 0; c < records.Count; c++)
        {
            var label = records[c].IsAggregate ? $"aggregate ({records[c].ReferenceName})" : records[c].ReferenceName;
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{20 + c * ColumnWidth}\" y=\"24\" font-weight=\"bold\">{WebUtility.HtmlEncode(label)}</text>");
        }
        foreach (var node in manager.Nodes)
        {
            foreach (var input in node.Inputs)
            {
                var producers = input.PerRecord?.Select(p => p.Node) ?? (input.Producer is { } p ? [p] : []);
                foreach (var producer in producers)
                {
                    if (!place.TryGetValue(producer, out var from) || !place.TryGetValue(node, out var to)) continue;
                    sb.Append(CultureInfo.InvariantCulture,
                        $"<line x1=\"{from.X + BoxWidth / 2}\" y1=\"{from.Y + BoxHeight}\" x2=\"{to.X + BoxWidth / 2}\" y2=\"{to.Y}\" stroke=\"#555\" marker-end=\"url(#arrow)\"><title>{WebUtility.HtmlEncode(input.Name)}</title></line>");
                }
            }
        }
        foreach (var (node, (x, y)) in place)
        {
            var fill = node.Status switch
            {
                StageStatus.Executed => "#c8f0c8",
                StageStatus.Failed => "#f5c0c0",
                StageStatus.Cached or StageStatus.Known => "#e4e4e4",
                _ => "#fff3c4",
            };
            var outputs = string.Join(", ", node.OutputNames);
            sb.Append(CultureInfo.InvariantCulture, $"<g><title>{WebUtility.HtmlEncode($"{node.Stage.Name}: {node.Status}{(node.Reason is null ? "" : $" ({node.Reason})")}")}</title>");
            sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x}\" y=\"{y}\" width=\"{BoxWidth}\" height=\"{BoxHeight}\" rx=\"6\" fill=\"{fill}\" stroke=\"#333\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x + 8}\" y=\"{y + 16}\" font-weight=\"bold\">{WebUtility.HtmlEncode(node.Stage.Name)}</text>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x + 8}\" y=\"{y + 32}\" fill=\"#444\">{WebUtility.HtmlEncode(outputs.Length > 26 ? outputs[..26] + "…" : outputs)}</text></g>");
        }
        return sb.Append("</svg>").ToString();
    }
}
