namespace Kiln.Autobench;

/// <summary>The validation accuracy of each condition (mean over seeds at each evaluation) against the step, as a PNG (ScottPlot).</summary>
public static class BenchPlot
{
    public static void Write(string path, string task, IReadOnlyList<ConditionSummary> rows, int width = 900, int height = 500)
    {
        var plot = new ScottPlot.Plot();
        foreach (var row in rows)
        {
            // Seeds evaluate at the same steps; a run cut short contributes only the points it has.
            var length = row.Runs.Min(r => r.Steps.Length);
            if (length == 0) continue;
            var xs = row.Runs[0].Steps.Take(length).Select(s => (double)s).ToArray();
            var ys = Enumerable.Range(0, length).Select(i => row.Runs.Average(r => r.ValAccuracy[i]) * 100).ToArray();
            var line = plot.Add.Scatter(xs, ys);
            line.LegendText = $"{row.Condition} {row.Start}";
            line.MarkerSize = 0;
            line.LineWidth = 1.5f;
        }
        plot.Title($"{task}: validation accuracy (mean of seeds)");
        plot.XLabel("step");
        plot.YLabel("val accuracy %");
        plot.ShowLegend(ScottPlot.Alignment.LowerRight);
        plot.SavePng(path, width, height);
    }
}
