using System.Text.Json.Nodes;
using Kiln.Autopilot.Actions;
using Kiln.Autopilot.Expressions;
using Kiln.Protocol;

namespace Kiln.Autopilot.Rules;

/// <summary>
/// The autopilot's rules: seed 000's defaults (<see cref="Defaults"/>), or a rules file (YAML or JSON) whose
/// <c>rules:</c> list replaces them — <c>defaults: true</c> keeps the defaults and adds to them, and a rule with a
/// default's id replaces that one. Every key is checked; an error names the rule and the key.
/// </summary>
public static class RuleSet
{
    /// <summary>
    /// hotcb's defaults: a plateau of the training or validation loss halves the learning rate; a spike or a divergence
    /// of the training loss cuts it tenfold; overfitting doubles the weight decay (proposed only); a gradient norm over
    /// 10 halves the learning rate. Cooldown 10 steps.
    /// </summary>
    public static IReadOnlyList<Rule> Defaults(string trainLoss = "train_loss", string valLoss = "val_loss") =>
    [
        new() { Id = "plateau_train", When = Conditions.Plateau, Metric = trainLoss, Window = 20, Epsilon = 0.005, Action = new(AutopilotAction.LrMult, 0.5) },
        new() { Id = "plateau_val", When = Conditions.Plateau, Metric = valLoss, Window = 20, Epsilon = 0.005, Action = new(AutopilotAction.LrMult, 0.5) },
        new() { Id = "spike", When = Conditions.Spike, Metric = trainLoss, Window = 5, Threshold = 0.3, Action = new(AutopilotAction.LrMult, 0.1), Confidence = Confidences.High },
        new() { Id = "divergence", When = Conditions.Divergence, Metric = trainLoss, Window = 10, Threshold = 0.5, Action = new(AutopilotAction.LrMult, 0.1), Confidence = Confidences.High },
        new() { Id = "overfitting", When = Conditions.Overfitting, Metric = trainLoss, Versus = valLoss, Threshold = 0.5, Action = new(AutopilotAction.WdMult, 2), Confidence = Confidences.Low },
        new() { Id = "grad_explosion", When = Conditions.Above, Metric = "grad_norm", Threshold = 10, Action = new(AutopilotAction.LrMult, 0.5), Confidence = Confidences.High },
    ];

    /// <summary>
    /// The rules the benchmark's autopilot steers with after its learning-rate probe (<see cref="Probe.LrProbe"/>): a
    /// plateau of the validation loss over <paramref name="plateauWindow"/> evaluations (range at most
    /// <paramref name="plateauEpsilon"/>) halves the rate — the decay a schedule would give, driven by the run; a
    /// divergence of the training loss first rolls the run back to the last checkpoint it kept while healthy (a built-in
    /// run keeping checkpoints; elsewhere the kernel rejects it and the cut still lands), then cuts the rate tenfold, as
    /// a spike does; a gradient norm over 10 halves it.
    /// </summary>
    public static IReadOnlyList<Rule> Steer(int plateauWindow = 3, double plateauEpsilon = 0.01, string trainLoss = "train_loss", string valLoss = "val_loss") =>
    [
        new() { Id = "plateau_val", When = Conditions.Plateau, Metric = valLoss, Window = plateauWindow, Epsilon = plateauEpsilon, Action = new(AutopilotAction.LrMult, 0.5), Cooldown = 0 },
        new() { Id = "divergence_rollback", When = Conditions.Divergence, Metric = trainLoss, Window = 10, Threshold = 0.5, Action = new(AutopilotAction.RestoreCheckpoint), Confidence = Confidences.High },
        .. Defaults(trainLoss, valLoss).Where(r => r.Id is "spike" or "divergence" or "grad_explosion"),
    ];

    /// <summary>The rules of a file; <paramref name="path"/> names it in errors.</summary>
    public static IReadOnlyList<Rule> Load(string path) => Parse(YamlJson.ParseJsonOrYaml(path), path);

    public static IReadOnlyList<Rule> Parse(JsonNode? root, string source)
    {
        var o = root as JsonObject ?? throw new ProtocolException($"{source}: a rules file is a mapping with a `rules:` list");
        foreach (var (key, _) in o)
            if (key is not ("rules" or "defaults")) throw new ProtocolException($"{source}: unknown key \"{key}\" (known: rules, defaults)");
        var keep = o["defaults"] is { } d && JsonValues.GetBool(d, $"{source}: defaults");
        var list = o["rules"] is { } r ? r as JsonArray ?? throw new ProtocolException($"{source}: rules: a list expected") : [];
        var rules = keep ? Defaults().ToList() : [];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < list.Count; i++)
        {
            var rule = ParseRule(list[i], $"{source}: rules[{i}]");
            if (!seen.Add(rule.Id)) throw new ProtocolException($"{source}: rules[{i}].id: \"{rule.Id}\" is given twice");
            var at = rules.FindIndex(x => x.Id == rule.Id);
            if (at >= 0) rules[at] = rule; else rules.Add(rule);
        }
        return rules;
    }

    private static readonly string[] Keys = ["id", "when", "metric", "versus", "window", "epsilon", "threshold", "expr", "action", "confidence", "cooldown", "enabled"];

    private static Rule ParseRule(JsonNode? node, string where)
    {
        var o = node as JsonObject ?? throw new ProtocolException($"{where}: a rule is a mapping (id, when, metric, …, action)");
        foreach (var (key, _) in o)
            if (!Keys.Contains(key)) throw new ProtocolException($"{where}: unknown key \"{key}\" (known: {string.Join(", ", Keys)})");
        var id = o["id"] is { } idNode ? JsonValues.GetString(idNode, $"{where}.id") : throw new ProtocolException($"{where}: id is missing");
        where = $"{where} ({id})";
        var expression = o["expr"] is { } e ? JsonValues.GetString(e, $"{where}.expr") : null;
        var when = o["when"] is { } w ? JsonValues.GetString(w, $"{where}.when") : expression is not null ? Conditions.Expression : null;
        if (when is null || !Conditions.All.Contains(when))
            throw new ProtocolException($"{where}.when: {(when is null ? "missing" : $"unknown condition \"{when}\"")} (known: {string.Join(", ", Conditions.All)})");
        Expr? parsed = null;
        if (when == Conditions.Expression)
        {
            if (expression is null) throw new ProtocolException($"{where}.expr: the expression is missing");
            try { parsed = ExprParser.Parse(expression); }
            catch (ExprException ex) { throw new ProtocolException($"{where}.expr: {ex.Message}"); }
        }
        else if (expression is not null) throw new ProtocolException($"{where}.expr: only for when: expr");
        var metric = o["metric"] is { } m ? JsonValues.GetString(m, $"{where}.metric") : null;
        if (metric is null && when != Conditions.Expression) throw new ProtocolException($"{where}.metric: missing (the metric the {when} condition watches)");
        var versus = o["versus"] is { } v ? JsonValues.GetString(v, $"{where}.versus") : null;
        if (when == Conditions.Overfitting && versus is null) throw new ProtocolException($"{where}.versus: missing (the validation loss beside {metric})");
        var confidence = o["confidence"] is { } c ? JsonValues.GetString(c, $"{where}.confidence") : Confidences.Medium;
        if (!Confidences.All.Contains(confidence)) throw new ProtocolException($"{where}.confidence: \"{confidence}\" (known: {string.Join(", ", Confidences.All)})");
        var threshold = o["threshold"] is { } t ? Finite(t, $"{where}.threshold") : (double?)null;
        if (threshold is null && when is Conditions.Divergence or Conditions.Spike or Conditions.Overfitting or Conditions.Above or Conditions.Below)
            throw new ProtocolException($"{where}.threshold: missing (the {when} condition needs it)");
        return new Rule
        {
            Id = id, When = when, Metric = metric, Versus = versus, ExpressionText = expression, Expression = parsed,
            Window = o["window"] is { } n ? JsonValues.GetInt(n, $"{where}.window", 1, ExprParser.MaxWindow) : 20,
            Epsilon = o["epsilon"] is { } eps ? Finite(eps, $"{where}.epsilon") : 0.005,
            Threshold = threshold ?? 0,
            Action = o["action"] is { } a ? AutopilotAction.FromJson(a, $"{where}.action") : throw new ProtocolException($"{where}.action: missing"),
            Confidence = confidence,
            Cooldown = o["cooldown"] is { } cd ? JsonValues.GetInt(cd, $"{where}.cooldown", 0) : 10,
            Enabled = o["enabled"] is not { } en || JsonValues.GetBool(en, $"{where}.enabled"),
        };
    }

    private static double Finite(JsonNode node, string where)
    {
        var v = JsonValues.GetDouble(node, where);
        return double.IsFinite(v) ? v : throw new ProtocolException($"{where}: must be a finite number, got {v}");
    }
}
