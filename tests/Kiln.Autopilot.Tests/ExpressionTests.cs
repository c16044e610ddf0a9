using Kiln.Autopilot.Expressions;
using Kiln.Autopilot.History;

namespace Kiln.Autopilot.Tests;

/// <summary>Rule conditions written as expressions: what they compute, what they refuse, and what they cannot reach.</summary>
public sealed class ExpressionTests
{
    private static MetricHistory History(string name, params double[] values)
    {
        var h = new MetricHistory();
        for (var i = 0; i < values.Length; i++) h.Add(i, name, values[i]);
        return h;
    }

    [Theory]
    [InlineData("1 + 2 * 3", 7)]
    [InlineData("(1 + 2) * 3", 9)]
    [InlineData("-2 * -3", 6)]
    [InlineData("10 / 4 - 1", 1.5)]
    [InlineData("1e-3 * 1000", 1)]
    [InlineData("2 > 1 && 1 >= 1", 1)]
    [InlineData("2 < 1 || 3 != 3", 0)]
    [InlineData("!(1 == 1)", 0)]
    [InlineData("abs(-4)", 4)]
    public void Arithmetic_comparisons_and_logic_follow_the_usual_precedence(string text, double expected) =>
        Assert.Equal(expected, ExprParser.Parse(text).Eval(new MetricHistory()));

    [Fact]
    public void Functions_look_back_over_a_metric_s_last_points()
    {
        var h = History("loss", 5, 4, 3, 2, 1);
        Assert.Equal(1, ExprParser.Parse("loss").Eval(h));
        Assert.Equal(2, ExprParser.Parse("mean(loss, 3)").Eval(h));
        Assert.Equal(1, ExprParser.Parse("min(loss, 5)").Eval(h));
        Assert.Equal(3, ExprParser.Parse("max(loss, 3)").Eval(h));
        Assert.Equal(-2, ExprParser.Parse("delta(loss, 2)").Eval(h));
        Assert.Equal(3, ExprParser.Parse("prev(loss, 2)").Eval(h));
        Assert.Equal(-1, ExprParser.Parse("slope(loss, 4)").Eval(h)!.Value, 12);
        Assert.Equal(5, ExprParser.Parse("count(loss)").Eval(h));
        Assert.Equal(4, ExprParser.Parse("step").Eval(h));
        Assert.Equal(1, ExprParser.Parse("loss < 1.5 * min(loss, 5) && delta(loss, 4) < 0").Eval(h));
    }

    [Fact]
    public void A_metric_not_reported_or_a_window_not_yet_full_leaves_the_expression_unavailable_never_true()
    {
        var h = History("loss", 3, 2);
        Assert.Null(ExprParser.Parse("val_loss > 0").Eval(h));
        Assert.Null(ExprParser.Parse("mean(loss, 3) > 0").Eval(h));
        Assert.Null(ExprParser.Parse("delta(loss, 2) < 0").Eval(h));
        // || with an unavailable side that is not needed still answers.
        Assert.Equal(1, ExprParser.Parse("loss > 0 || val_loss > 0").Eval(h));
        Assert.Equal(0, ExprParser.Parse("loss < 0 && val_loss > 0").Eval(h));
    }

    [Fact]
    public void Names_with_other_characters_are_written_between_backquotes()
    {
        var h = History("train/loss", 0.5);
        Assert.Equal(1, ExprParser.Parse("`train/loss` / 0.5").Eval(h));
        Assert.Equal(0.5, ExprParser.Parse("mean(`train/loss`, 1)").Eval(h));
    }

    [Fact]
    public void A_NaN_is_seen_by_isnan()
    {
        var h = History("loss", 1, double.NaN);
        Assert.Equal(1, ExprParser.Parse("isnan(loss)").Eval(h));
    }

    [Theory]
    [InlineData("1 +", "column 4: the expression ends where a value was expected")]
    [InlineData("loss > )", "column 8: unexpected ')'")]
    [InlineData("(1 + 2", "column 7: ')' expected")]
    [InlineData("mean(loss)", "mean: ',' and a number of points expected")]
    [InlineData("mean(loss, 0)", "the number of points must be a whole number from 1 to 100000, got 0")]
    [InlineData("mean(3, 2)", "mean: a metric name expected first")]
    [InlineData("loss 2", "column 6: unexpected '2'")]
    [InlineData("`loss", "a name opened with ` is not closed")]
    public void Malformed_expressions_are_refused_with_where_and_why(string text, string message) =>
        Assert.Contains(message, Assert.Throws<ExprException>(() => ExprParser.Parse(text)).Message);

    [Theory]
    [InlineData("System.IO.File.Delete(x)")]
    [InlineData("exec(loss)")]
    [InlineData("__import__(os)")]
    [InlineData("getattr(loss, 1)")]
    public void Nothing_but_the_listed_functions_can_be_called(string text)
    {
        var ex = Assert.Throws<ExprException>(() => ExprParser.Parse(text));
        Assert.Contains("unknown function", ex.Message);
        Assert.Contains("known: mean, min, max", ex.Message);
    }

    [Fact]
    public void Long_or_deeply_nested_expressions_are_refused()
    {
        Assert.Contains("at most 1000", Assert.Throws<ExprException>(() => ExprParser.Parse(new string('1', 1001))).Message);
        Assert.Contains("nested too deeply", Assert.Throws<ExprException>(() => ExprParser.Parse(new string('-', 200) + "1")).Message);
    }
}
