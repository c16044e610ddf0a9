using Kiln.Metrics;

namespace Kiln.Registry.Reports;

/// <summary>A metric's curve as a static SVG (ScottPlot), for pages that must open without a server or a script.</summary>
public static class MetricPlot
{
    /// <summary>Points drawn at most per series: past this, each bucket of steps keeps its lowest and highest value, so spikes stay.</summary>
    public const int MaxPoints = 2000;

    /// <summary>An SVG of <paramref name="series"/> (one line each, named) over the step axis.</summary>
    public static string Svg(string title, IReadOnlyList<(string Name, MetricSeries Series)> series, int width = 640, int height = 300)
    {
        var plot = new ScottPlot.Plot();
        foreach (var (name, s) in series)
        {
            var (xs, ys) = Reduce(s.Steps, s.Values);
            if (xs.Length == 0) continue;
            var line = plot.Add.Scatter(xs, ys);
            line.LegendText = name;
            line.MarkerSize = xs.Length <= 30 ? 5 : 0;
            line.LineWidth = 1.5f;
        }
        plot.Title(title);
        plot.XLabel("step");
        plot.YLabel(series.Count == 1 ? series[0].Name : "value");
        if (series.Count > 1) plot.ShowLegend();
        return plot.GetSvgXml(width, height);
    }

    /// <summary>The series as drawn: every point, or per bucket its minimum and maximum in step order.</summary>
    internal static (double[] Xs, double[] Ys) Reduce(ReadOnlySpan<long> steps, ReadOnlySpan<double> values)
    {
        var n = steps.Length;
        if (n <= MaxPoints)
        {
            var xs = new double[n];
            var ys = new double[n];
            for (var i = 0; i < n; i++) (xs[i], ys[i]) = (steps[i], values[i]);
            return (xs, ys);
        }
        var buckets = MaxPoints / 2;
        var outX = new List<double>(MaxPoints);
        var outY = new List<double>(MaxPoints);
        for (var b = 0; b < buckets; b++)
        {
            int from = (int)((long)b * n / buckets), to = (int)((long)(b + 1) * n / buckets);
            if (to <= from) continue;
            int lo = from, hi = from;
            for (var i = from + 1; i < to; i++)
            {
                if (values[i] < values[lo]) lo = i;
                if (values[i] > values[hi]) hi = i;
            }
            foreach (var i in lo <= hi ? [lo, hi] : new[] { hi, lo })
            {
                outX.Add(steps[i]);
                outY.Add(values[i]);
                if (lo == hi) break;
            }
        }
        return ([.. outX], [.. outY]);
    }
}
