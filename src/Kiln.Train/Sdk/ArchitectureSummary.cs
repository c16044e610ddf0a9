using System.Globalization;
using System.Text;
using Kiln.Train.Tensors;

namespace Kiln.Train.Sdk;

/// <summary>
/// A model as a table one reads at a glance, in the manner of torchinfo: one row per module (indented by depth)
/// and per parameter, with shapes and counts, then the totals.
/// <code>
/// module     type     setting / parameter  shape       count
/// (model)    Mlp
///   0        Linear   weight               [16, 4]        64
///                     bias                 [16]           16
///   1        ReLU
/// total parameters: 80
/// input [2, 4] -> output [2, 16]
/// fingerprint: sha256:…
/// </code>
/// </summary>
internal static class ArchitectureSummary
{
    public static string Render(string fingerprint, IReadOnlyList<ModuleEntry> modules, long parameterCount, int[]? inputShape, int[]? outputShape)
    {
        var rows = new List<string[]> { new[] { "module", "type", "setting / parameter", "shape", "count" } };
        foreach (var m in modules)
        {
            var depth = m.Path.Length == 0 ? 0 : m.Path.Count(c => c == '.') + 1;
            var label = new string(' ', 2 * depth) + (m.Path.Length == 0 ? "(model)" : m.Path);
            var first = true;
            string[] Row(string what, string shape, string count)
            {
                var row = first ? new[] { label, m.Type, what, shape, count } : new[] { "", "", what, shape, count };
                first = false;
                return row;
            }
            foreach (var (name, value) in m.Attributes) rows.Add(Row($"{name} = {value.ToString(CultureInfo.InvariantCulture)}", "", ""));
            foreach (var p in m.Parameters) rows.Add(Row(p.Name, Tensor.ShapeText(p.Shape.ToArray()), Count(Tensor.SizeOf(p.Shape.ToArray()))));
            if (first) rows.Add(Row("", "", ""));
        }

        var widths = Enumerable.Range(0, 5).Select(c => rows.Max(r => r[c].Length)).ToArray();
        var sb = new StringBuilder();
        foreach (var row in rows)
        {
            var line = new StringBuilder();
            for (var c = 0; c < 4; c++) line.Append(row[c].PadRight(widths[c])).Append("  ");
            line.Append(row[4].PadLeft(widths[4]));
            sb.Append(line.ToString().TrimEnd()).Append('\n');
        }
        sb.Append("total parameters: ").Append(Count(parameterCount)).Append('\n');
        if (inputShape is not null && outputShape is not null)
            sb.Append("input ").Append(Tensor.ShapeText(inputShape)).Append(" -> output ").Append(Tensor.ShapeText(outputShape)).Append('\n');
        sb.Append("fingerprint: ").Append(fingerprint).Append('\n');
        return sb.ToString();
    }

    private static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);
}
