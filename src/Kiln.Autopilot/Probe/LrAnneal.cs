using System.Globalization;
using Kiln.Autopilot.Actions;
using Kiln.Autopilot.History;

namespace Kiln.Autopilot.Probe;

/// <summary>
/// What follows the learning-rate probe when the run's budget is known: the rate the probe chose, decayed on a cosine to
/// zero at the budget's end — the schedule a tuned baseline uses, without its grid. At each poll the autopilot sets the
/// rate the curve gives for the next step (a command with its rationale, like every action), unless it moved by less than
/// <see cref="MinChange"/> since the last one sent.
/// </summary>
/// <param name="budget">The run's step budget (its <c>max_steps</c>).</param>
public sealed class LrAnneal(long budget)
{
    public const string RuleId = "lr_anneal";

    /// <summary>The relative change below which no command is sent.</summary>
    public double MinChange { get; init; } = 0.02;

    public long Budget { get; } = budget > 0 ? budget : throw new ArgumentOutOfRangeException(nameof(budget), budget, "a budget of at least one step");

    private long? _from;
    private double _peak;
    private double? _sent;

    /// <summary>Starts the decay from <paramref name="peak"/> at <paramref name="from"/> (the step after the probe ended).</summary>
    public void Start(long from, double peak)
    {
        _from = from;
        _peak = peak;
        _sent = peak;
    }

    public bool Started => _from is not null;

    /// <summary>The rate for the step after the history's last one, when it is worth sending.</summary>
    public (AutopilotAction Action, string Rationale)? Next(MetricHistory history)
    {
        if (_from is not { } from) return null;
        var next = history.Step + 1;
        var t = Math.Clamp((double)(next - from) / Math.Max(1, Budget - from), 0, 1);
        var lr = _peak * 0.5 * (1 + Math.Cos(Math.PI * t));
        if (_sent is { } last && Math.Abs(lr - last) <= MinChange * last) return null;
        _sent = lr;
        return (new AutopilotAction(AutopilotAction.SetLr, lr),
            $"cosine decay after the probe: lr {T(lr)} at step {next} ({T(t * 100)} % of the way from step {from} to {Budget}, peak {T(_peak)})");
    }

    private static string T(double v) => v.ToString("G3", CultureInfo.InvariantCulture);
}
