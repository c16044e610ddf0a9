using System.Globalization;
using Kiln.Autopilot.Actions;
using Kiln.Autopilot.History;

namespace Kiln.Autopilot.Probe;

/// <summary>
/// A learning-rate probe at the start of a run: the run trains one segment (from one poll of the autopilot to the
/// next) at each of the rates <c>base × <see cref="Factors"/></c>, lowest first, and the probe measures how fast the
/// training loss falls in each (the least-squares slope per step, the first <see cref="Skip"/> points of a segment left
/// out: they still train at the rate before). It stops climbing at the first segment whose loss rises (or is not a
/// number), and then sets the rate whose segment fell fastest. The base is the run's <see cref="LrMetric"/> when the
/// probe starts. Every change is an action with its rationale, sent like any other (<c>set_lr</c>): the probe decides
/// only from the metrics it is fed, so it is tested by feeding it numbers.
/// </summary>
public sealed class LrProbe
{
    private readonly List<(double Lr, double Slope)> _segments = [];
    private double? _base;
    private long _segmentFrom;

    /// <summary>The rule name of the probe's proposals.</summary>
    public const string RuleId = "lr_probe";

    /// <summary>The rates tried, as multiples of the run's rate; lowest first.</summary>
    public double[] Factors { get; init; } = [0.1, 0.3, 1, 3, 10];

    public string Metric { get; init; } = "train_loss";
    public string LrMetric { get; init; } = "lr";

    /// <summary>Points at the start of each segment left out (the command lands a step after it is sent, and acts a step after that).</summary>
    public int Skip { get; init; } = 2;

    /// <summary>Points a segment needs, after <see cref="Skip"/>, to be judged; the probe waits for more otherwise.</summary>
    public int MinPoints { get; init; } = 4;

    public bool Done { get; private set; }

    /// <summary>The segments judged so far: rate and slope of the loss per step.</summary>
    public IReadOnlyList<(double Lr, double Slope)> Segments => _segments;

    /// <summary>The rate chosen, once <see cref="Done"/>.</summary>
    public double? Chosen { get; private set; }

    /// <summary>The probe's next action and why, or null while it waits (or is done).</summary>
    public (AutopilotAction Action, string Rationale)? Next(MetricHistory history)
    {
        if (Done) return null;
        if (_base is null)
        {
            if (history.Last(LrMetric) is not { } lr || !double.IsFinite(lr) || lr <= 0) return null;
            _base = lr;
            return Segment(history.Step);
        }
        var points = history.Window(Metric, history.Capacity, _segmentFrom);
        if (points.Length < Skip + MinPoints) return null;
        var lrNow = _base.Value * Factors[_segments.Count];
        var slope = Slope(points.AsSpan(Skip));
        _segments.Add((lrNow, slope));
        var rose = !(slope < 0);
        if (!rose && _segments.Count < Factors.Length) return Segment(history.Step);
        return Finish(rose);
    }

    private (AutopilotAction, string) Segment(long step)
    {
        _segmentFrom = step;
        var i = _segments.Count;
        var lr = _base!.Value * Factors[i];
        var before = i == 0 ? "" : $"; segment {i} at {T(_segments[^1].Lr)}: loss slope {T(_segments[^1].Slope)}/step";
        return (new AutopilotAction(AutopilotAction.SetLr, lr),
            $"learning-rate probe: segment {i + 1} of {Factors.Length} at lr {T(lr)} ({T(Factors[i])} × {T(_base.Value)}){before}");
    }

    private (AutopilotAction, string) Finish(bool rose)
    {
        Done = true;
        var finite = _segments.Where(s => double.IsFinite(s.Slope)).ToList();
        var best = finite.Count > 0 ? finite.MinBy(s => s.Slope) : (Lr: _base!.Value, Slope: 0.0);
        Chosen = best.Lr;
        var table = string.Join(", ", _segments.Select(s => $"{T(s.Lr)}: {T(s.Slope)}/step"));
        var why = rose ? $"the loss rose at lr {T(_segments[^1].Lr)}, so higher rates were not tried; " : "";
        return (new AutopilotAction(AutopilotAction.SetLr, best.Lr),
            $"learning-rate probe done: {why}lr {T(best.Lr)} made the loss fall fastest (slopes {table})");
    }

    /// <summary>The least-squares slope of <paramref name="ys"/> against their index; a value that is not finite makes it +∞.</summary>
    internal static double Slope(ReadOnlySpan<double> ys)
    {
        var n = ys.Length;
        if (n < 2) return double.NaN;
        double mx = (n - 1) / 2.0, my = 0;
        foreach (var y in ys)
        {
            if (!double.IsFinite(y)) return double.PositiveInfinity;
            my += y;
        }
        my /= n;
        double sxy = 0, sxx = 0;
        for (var i = 0; i < n; i++)
        {
            sxy += (i - mx) * (ys[i] - my);
            sxx += (i - mx) * (i - mx);
        }
        return sxy / sxx;
    }

    private static string T(double v) => v.ToString("G3", CultureInfo.InvariantCulture);
}
