using System.Text.RegularExpressions;

namespace Kiln.Metrics;

/// <summary>Which of a run's metrics are shown when the user has not picked: on its page, and in its row of the runs list.</summary>
public static partial class DefaultMetrics
{
    /// <summary>How many metrics a run page draws before the user picks.</summary>
    public const int Max = 6;

    [GeneratedRegex("loss|acc|^lr$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex DefaultPattern();

    /// <summary>
    /// The metrics a run page draws until the user picks: the losses, accuracies and learning rate (at most
    /// <see cref="Max"/>; top-level names before namespaced ones such as <c>layer3.loss_scale</c>), in name
    /// order, or the first four metrics when none is such. A run logging thousands of metrics (per-layer statistics)
    /// so opens with a handful of series, not all of them.
    /// </summary>
    public static List<string> Names(IEnumerable<string> ordered)
    {
        var all = ordered.ToList();
        var wanted = all.Where(n => DefaultPattern().IsMatch(n))
            .OrderBy(n => n.AsSpan().IndexOfAny('.', '/') >= 0) // stable: name order within each kind
            .Take(Max)
            .Order(StringComparer.Ordinal)
            .ToList();
        return wanted.Count > 0 ? wanted : all.Take(4).ToList();
    }
}
