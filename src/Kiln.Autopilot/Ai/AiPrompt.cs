using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Kiln.Autopilot.Engine;
using Kiln.Autopilot.Expressions;
using Kiln.Autopilot.History;

namespace Kiln.Autopilot.Ai;

/// <summary>
/// What the model is told, kept short: the key metric and which way is better, a trend table of the metrics that
/// matter, the alerts the rules raised, the last decisions, the dials as they are with their bounds, and the actions it
/// may take with theirs. It answers in JSON (<see cref="AiReply"/>).
/// </summary>
public static class AiPrompt
{
    /// <summary>Points each trend is computed over.</summary>
    public const int TrendWindow = 50;

    /// <summary>Metrics in the trend table at most.</summary>
    public const int MaxMetrics = 8;

    public static string System(AiSettings settings) => $$"""
        You steer a machine-learning training run while it trains. Your goal: make the key metric `{{settings.KeyMetric}}` as {{(LowerIsBetter(settings.KeyMetric) ? "low" : "high")}} as possible by the end of the run.
        Change things only when the trend calls for it; doing nothing is often right. Large learning-rate cuts help when the loss plateaus or diverges; raising it helps when progress is slow and stable.
        Reply with one JSON object and nothing else:
        {"reasoning": "<one or two sentences>", "actions": [{"action": "<name>", "value": <number>, "key": "<name>"}], "next_check_in_steps": <integer>}
        Actions (values outside the bounds are clamped):
        - set_lr: value = the new learning rate, within the lr dial's bounds
        - lr_mult: value = a factor for the learning rate, 0.01 to 10
        - set_wd: value = the new weight decay, within its dial's bounds
        - wd_mult: value = a factor for the weight decay, 0.01 to 10
        - loss_weight: key = a loss term, value = its weight, 0 to 10
        - cb_enable, cb_disable: key = a callback id
        - noop: change nothing
        """;

    public static string User(MetricHistory history, IReadOnlyList<(string Rule, string Why)> alerts, IReadOnlyList<Proposal> recent,
        IReadOnlyList<JsonObject> dials, AiSettings settings)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"Step {history.Step}. Key metric: {settings.KeyMetric} ({(LowerIsBetter(settings.KeyMetric) ? "lower" : "higher")} is better).\n\n");
        sb.Append(CultureInfo.InvariantCulture, $"Trends over the last {TrendWindow} points of each metric:\n");
        sb.Append("| metric | last | min | max | slope/point | volatility | trend |\n|---|---|---|---|---|---|---|\n");
        foreach (var name in Watched(history, settings.KeyMetric))
        {
            var w = history.Window(name, TrendWindow);
            if (w.Length == 0) continue;
            var slope = Call.Slope(w);
            var mean = w.Average();
            var volatility = mean == 0 ? 0 : Call.Std(w) / Math.Abs(mean);
            sb.Append(CultureInfo.InvariantCulture, $"| {name} | {N(w[^1])} | {N(w.Min())} | {N(w.Max())} | {N(slope)} | {N(volatility)} | {Arrow(slope, mean)} |\n");
        }
        if (alerts.Count > 0)
        {
            sb.Append("\nAlerts the rules raised now:\n");
            foreach (var (rule, why) in alerts) sb.Append(CultureInfo.InvariantCulture, $"- {rule}: {why}\n");
        }
        sb.Append("\nRecent decisions:\n");
        if (recent.Count == 0) sb.Append("- none yet\n");
        foreach (var p in recent) sb.Append(CultureInfo.InvariantCulture, $"- step {p.Step}: {p.Action} ({p.Rule}, {p.Status})\n");
        sb.Append("\nDials now:\n");
        foreach (var d in dials)
        {
            if (d["value"] is not JsonValue v || !v.TryGetValue(out double value)) continue;
            var group = d["group"] is JsonValue g ? $" group {g}" : "";
            var bounds = d["min"] is JsonValue lo && d["max"] is JsonValue hi ? $" (bounds {lo}..{hi})" : "";
            sb.Append(CultureInfo.InvariantCulture, $"- {d["module"]}.{d["key"]}{group} = {N(value)}{bounds}\n");
        }
        return sb.ToString();
    }

    /// <summary>Losses, errors and perplexities go down; accuracies and scores go up.</summary>
    public static bool LowerIsBetter(string metric)
    {
        var m = metric.ToLowerInvariant();
        return !(m.Contains("acc", StringComparison.Ordinal) || m.Contains("score", StringComparison.Ordinal) || m.Contains("f1", StringComparison.Ordinal)
                 || m.Contains("auc", StringComparison.Ordinal) || m.Contains("precision", StringComparison.Ordinal) || m.Contains("recall", StringComparison.Ordinal)
                 || m.Contains("map", StringComparison.Ordinal) || m.Contains("bleu", StringComparison.Ordinal));
    }

    /// <summary>The key metric, the usual ones, then other losses and accuracies, at most <see cref="MaxMetrics"/>.</summary>
    private static IEnumerable<string> Watched(MetricHistory history, string key)
    {
        var names = history.Names.ToList();
        string[] usual = [key, "train_loss", "val_loss", "val_accuracy", "accuracy", "lr", "grad_norm"];
        return usual.Where(names.Contains)
            .Concat(names.Where(n => n.Contains("loss", StringComparison.OrdinalIgnoreCase) || n.Contains("acc", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal))
            .Distinct(StringComparer.Ordinal).Take(MaxMetrics);
    }

    private static string Arrow(double slope, double mean)
    {
        var relative = mean == 0 ? slope : slope / Math.Abs(mean);
        return relative switch { > 0.01 => "rising fast", > 0.001 => "rising", < -0.01 => "falling fast", < -0.001 => "falling", _ => "flat" };
    }

    private static string N(double v) => v.ToString("G4", CultureInfo.InvariantCulture);
}
