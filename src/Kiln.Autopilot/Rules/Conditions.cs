using Kiln.Autopilot.History;

namespace Kiln.Autopilot.Rules;

/// <summary>
/// The conditions a rule can watch, each saying in words why it holds:
/// <list type="bullet">
/// <item><c>plateau</c>: the last <c>window</c> points of the metric span at most <c>epsilon</c>;</item>
/// <item><c>divergence</c>: the metric rose more than <c>threshold</c> over the last <c>window</c> points;</item>
/// <item><c>spike</c>: the newest point is more than <c>threshold</c> above the mean of the <c>window</c> points before it;</item>
/// <item><c>overfitting</c>: <c>metric / versus</c> (training over validation loss) fell under <c>threshold</c>;</item>
/// <item><c>above</c>, <c>below</c>: the newest point is over (under) <c>threshold</c> — or not a finite number;</item>
/// <item><c>expr</c>: an expression over metrics (<see cref="Expressions.ExprParser"/>) is true.</item>
/// </list>
/// </summary>
public static class Conditions
{
    public const string Plateau = "plateau";
    public const string Divergence = "divergence";
    public const string Spike = "spike";
    public const string Overfitting = "overfitting";
    public const string Above = "above";
    public const string Below = "below";
    public const string Expression = "expr";

    public static readonly string[] All = [Plateau, Divergence, Spike, Overfitting, Above, Below, Expression];

    /// <summary>Why <paramref name="rule"/> holds now, or null; only points after step <paramref name="lastFired"/> count for windows.</summary>
    public static string? Check(Rule rule, MetricHistory history, long lastFired)
    {
        var m = rule.Metric!;
        string T(double v) => Rule.Text(v);
        switch (rule.When)
        {
            case Plateau:
            {
                var w = history.Window(m, rule.Window, lastFired);
                if (w.Length < rule.Window) return null;
                var range = w.Max() - w.Min();
                return range <= rule.Epsilon ? $"{m} moved {T(range)} over its last {rule.Window} points (plateau: at most {T(rule.Epsilon)})" : null;
            }
            case Divergence:
            {
                var w = history.Window(m, rule.Window + 1, lastFired);
                if (w.Length < rule.Window + 1) return null;
                var rise = w[^1] - w[0];
                return rise > rule.Threshold || !double.IsFinite(w[^1])
                    ? $"{m} rose from {T(w[0])} to {T(w[^1])} over {rule.Window} points (divergence: more than {T(rule.Threshold)})"
                    : null;
            }
            case Spike:
            {
                var w = history.Window(m, rule.Window + 1, lastFired);
                if (w.Length < rule.Window + 1) return null;
                var before = w[..^1].Average();
                return w[^1] - before > rule.Threshold || !double.IsFinite(w[^1])
                    ? $"{m} jumped to {T(w[^1])} from a mean of {T(before)} over the {rule.Window} points before (spike: more than {T(rule.Threshold)})"
                    : null;
            }
            case Overfitting:
            {
                if (history.Last(m) is not { } train || history.Last(rule.Versus!) is not { } val || val <= 0) return null;
                var ratio = train / val;
                return ratio < rule.Threshold
                    ? $"{m} / {rule.Versus} = {T(train)} / {T(val)} = {T(ratio)} (overfitting: under {T(rule.Threshold)})"
                    : null;
            }
            case Above or Below:
            {
                if (history.Last(m) is not { } v) return null;
                if (!double.IsFinite(v)) return $"{m} is {v}";
                var holds = rule.When == Above ? v > rule.Threshold : v < rule.Threshold;
                return holds ? $"{m} = {T(v)} ({(rule.When == Above ? "above" : "below")} {T(rule.Threshold)})" : null;
            }
            case Expression:
            {
                if (rule.Expression!.Eval(history) is not { } v || v == 0) return null;
                var values = string.Join(", ", rule.Expression.Metrics().Distinct().Select(n => history.Last(n) is { } x ? $"{n} = {T(x)}" : $"{n} = ?"));
                return $"{rule.ExpressionText} holds{(values.Length > 0 ? $" ({values})" : "")}";
            }
            default:
                throw new InvalidOperationException(rule.When);
        }
    }
}
