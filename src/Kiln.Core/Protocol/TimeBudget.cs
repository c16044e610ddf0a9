using System.Globalization;

namespace Kiln.Protocol;

/// <summary>
/// How long a call into a callback's code may take (<c>time_budget_s</c> of <c>cb load</c> and of
/// <c>kiln.yaml</c>'s <c>callbacks.&lt;id&gt;</c>, <c>kernel.callback_time_budget_s</c>): seconds, more than 0.
/// </summary>
public static class TimeBudget
{
    /// <summary>The longest budget (about 11 days): longer ones are no budget at all, and timers cannot hold them.</summary>
    public const double MaxSeconds = 1e6;

    /// <summary>The budget in seconds, or a <see cref="ProtocolException"/> naming <paramref name="key"/>.</summary>
    public static double Check(double seconds, string key) =>
        seconds is > 0 and <= MaxSeconds
            ? seconds
            : throw new ProtocolException($"{key}: a time budget is a number of seconds > 0 and <= {MaxSeconds:0}, got {JsonValues.FormatNumber(seconds)}");

    /// <summary>A budget as the ledger says it: <c>2 s</c>, <c>0.25 s</c>.</summary>
    public static string Show(TimeSpan budget) => budget.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s";
}
