using Kiln.Autopilot.History;

namespace Kiln.Autopilot.Expressions;

/// <summary>
/// A parsed condition over metrics (<see cref="ExprParser"/>). Evaluating it reads only the history it is given: there
/// is no way from an expression to a file, a type or a method. A value that is not there (a metric never reported, a
/// window not yet full) makes the whole expression unavailable — null — and a rule never fires on null.
/// </summary>
public abstract record Expr
{
    public abstract double? Eval(MetricHistory history);

    /// <summary>The metrics the expression reads.</summary>
    public abstract IEnumerable<string> Metrics();

    internal static double Truth(bool b) => b ? 1 : 0;
}

internal sealed record Number(double Value) : Expr
{
    public override double? Eval(MetricHistory history) => Value;
    public override IEnumerable<string> Metrics() => [];
}

/// <summary>A metric's newest value, or the current step (<c>step</c>).</summary>
internal sealed record Metric(string Name) : Expr
{
    public override double? Eval(MetricHistory history) => Name == "step" ? (history.Step < 0 ? null : history.Step) : history.Last(Name);
    public override IEnumerable<string> Metrics() => Name == "step" ? [] : [Name];
}

internal sealed record Unary(char Op, Expr Operand) : Expr
{
    public override double? Eval(MetricHistory history) => Operand.Eval(history) is not { } v ? null : Op switch
    {
        '-' => -v,
        '!' => Truth(v == 0),
        _ => throw new InvalidOperationException(Op.ToString()),
    };

    public override IEnumerable<string> Metrics() => Operand.Metrics();
}

internal sealed record Binary(string Op, Expr Left, Expr Right) : Expr
{
    public override double? Eval(MetricHistory history)
    {
        // && and || look at their right side only when they must, as a reader expects.
        if (Op is "&&" or "||")
        {
            if (Left.Eval(history) is not { } l) return null;
            if (Op == "&&" && l == 0) return 0;
            if (Op == "||" && l != 0) return 1;
            return Right.Eval(history) is { } r ? Truth(r != 0) : null;
        }
        if (Left.Eval(history) is not { } a || Right.Eval(history) is not { } b) return null;
        return Op switch
        {
            "+" => a + b,
            "-" => a - b,
            "*" => a * b,
            "/" => a / b,
            "<" => Truth(a < b),
            "<=" => Truth(a <= b),
            ">" => Truth(a > b),
            ">=" => Truth(a >= b),
            "==" => Truth(a == b),
            "!=" => Truth(a != b),
            _ => throw new InvalidOperationException(Op),
        };
    }

    public override IEnumerable<string> Metrics() => Left.Metrics().Concat(Right.Metrics());
}

/// <summary>One of the functions <see cref="Functions"/> lists.</summary>
internal sealed record Call(string Function, IReadOnlyList<Expr> Args, string? Series, int Window) : Expr
{
    /// <summary>Each function, with what it takes: a metric and a window of points, or numbers.</summary>
    public static readonly IReadOnlyDictionary<string, string> Functions = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["mean"] = "mean(metric, n): the mean of its last n values",
        ["min"] = "min(metric, n): the smallest of its last n values",
        ["max"] = "max(metric, n): the largest of its last n values",
        ["std"] = "std(metric, n): the standard deviation of its last n values",
        ["delta"] = "delta(metric, n): its newest value minus the value n points before",
        ["slope"] = "slope(metric, n): the least-squares slope of its last n values, per point",
        ["prev"] = "prev(metric, n): the value n points before the newest",
        ["count"] = "count(metric): how many points are kept",
        ["abs"] = "abs(x)",
        ["log"] = "log(x): the natural logarithm",
        ["isnan"] = "isnan(x): 1 when x is not a finite number",
    };

    /// <summary>The functions that read a window of one metric.</summary>
    public static readonly HashSet<string> Windowed = ["mean", "min", "max", "std", "delta", "slope", "prev"];

    public override double? Eval(MetricHistory history)
    {
        if (Series is { } name)
        {
            if (Function == "count") return history.Count(name);
            // delta and prev look n points back, so they need n + 1 points.
            var need = Function is "delta" or "prev" ? Window + 1 : Window;
            var w = history.Window(name, need);
            if (w.Length < need) return null;
            return Function switch
            {
                "mean" => w.Average(),
                "min" => w.Min(),
                "max" => w.Max(),
                "std" => Std(w),
                "delta" => w[^1] - w[0],
                "prev" => w[0],
                "slope" => Slope(w),
                _ => throw new InvalidOperationException(Function),
            };
        }
        if (Args[0].Eval(history) is not { } x) return null;
        return Function switch
        {
            "abs" => Math.Abs(x),
            "log" => Math.Log(x),
            "isnan" => Truth(!double.IsFinite(x)),
            _ => throw new InvalidOperationException(Function),
        };
    }

    public override IEnumerable<string> Metrics() => Series is { } s ? [s] : Args.SelectMany(a => a.Metrics());

    internal static double Std(double[] w)
    {
        var mean = w.Average();
        return Math.Sqrt(w.Sum(v => (v - mean) * (v - mean)) / w.Length);
    }

    internal static double Slope(double[] w)
    {
        if (w.Length < 2) return 0;
        var n = w.Length;
        var meanX = (n - 1) / 2.0;
        var meanY = w.Average();
        double num = 0, den = 0;
        for (var i = 0; i < n; i++)
        {
            num += (i - meanX) * (w[i] - meanY);
            den += (i - meanX) * (i - meanX);
        }
        return num / den;
    }
}
