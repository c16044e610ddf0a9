using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kiln.Autopilot.Actions;

namespace Kiln.Autopilot.Ai;

/// <summary>
/// The model's answer, checked against its schema: <c>reasoning</c> (text), <c>actions</c> (a list of
/// <c>{action, value, key}</c>) and an optional <c>next_check_in_steps</c>. A reply that is not such an object is
/// malformed and changes nothing; an unknown action or one missing its value is dropped, saying so; values outside
/// their bounds are clamped, saying so. Code fences around the JSON are tolerated.
/// </summary>
public sealed record AiReply(string Reasoning, IReadOnlyList<AutopilotAction> Actions, IReadOnlyList<string> Notes, long? NextCheckInSteps)
{
    public const double MinLr = 1e-7;
    public const double MaxLr = 1;
    public const double MinFactor = 0.01;
    public const double MaxFactor = 10;
    public const double MaxLossWeight = 10;

    /// <summary>The reply, or a <see cref="FormatException"/> saying what is wrong with it.</summary>
    /// <param name="dials">The run's dials (<c>kiln.actuators.json</c>): their bounds clamp <c>set_lr</c> and <c>set_wd</c>.</param>
    public static AiReply Parse(string text, IReadOnlyList<JsonObject> dials, long cadence)
    {
        JsonObject o;
        try
        {
            o = JsonNode.Parse(StripFences(text)) as JsonObject ?? throw new FormatException("the reply is not a JSON object");
        }
        catch (JsonException ex)
        {
            throw new FormatException($"the reply is not JSON: {ex.Message}");
        }
        if (o["reasoning"] is not JsonValue r || !r.TryGetValue(out string? reasoning)) throw new FormatException("the reply has no \"reasoning\" text");
        if (o["actions"] is not JsonArray list) throw new FormatException("the reply has no \"actions\" list");
        var actions = new List<AutopilotAction>();
        var notes = new List<string>();
        foreach (var item in list)
        {
            if (item is not JsonObject a || a["action"] is not JsonValue n || !n.TryGetValue(out string? name))
            {
                notes.Add($"dropped {item?.ToJsonString() ?? "null"}: not an {{action, value, key}} object");
                continue;
            }
            if (name == "noop") continue;
            var value = a["value"] is JsonValue v && v.TryGetValue(out double d) && double.IsFinite(d) ? d : (double?)null;
            var key = a["key"] is JsonValue k && k.TryGetValue(out string? s) && s.Length > 0 ? s : null;
            if (Action(name, value, key, dials, notes) is { } action) actions.Add(action);
        }
        long? next = null;
        if (o["next_check_in_steps"] is JsonValue nv && nv.TryGetValue(out double steps) && double.IsFinite(steps))
            next = (long)Math.Clamp(steps, 1, Math.Max(4 * cadence, 200));
        return new AiReply(reasoning!, actions, notes, next);
    }

    private static AutopilotAction? Action(string name, double? value, string? key, IReadOnlyList<JsonObject> dials, List<string> notes)
    {
        double Clamp(double v, double lo, double hi, string what)
        {
            var c = Math.Clamp(v, lo, hi);
            if (c != v) notes.Add($"{name}: {what} {Text(v)} clamped to {Text(c)}");
            return c;
        }
        switch (name)
        {
            case AutopilotAction.SetLr or AutopilotAction.SetWd or AutopilotAction.LrMult or AutopilotAction.WdMult or AutopilotAction.LossWeight when value is null:
                notes.Add($"dropped {name}: no numeric value");
                return null;
            case AutopilotAction.SetLr:
            {
                var (lo, hi) = Bounds(dials, "lr", MinLr, MaxLr);
                return new(name, Clamp(value!.Value, Math.Max(lo, MinLr), Math.Min(hi, MaxLr), "value"));
            }
            case AutopilotAction.SetWd:
            {
                var (lo, hi) = Bounds(dials, "weight_decay", 0, 1);
                return new(name, Clamp(value!.Value, Math.Max(lo, 0), Math.Min(hi, 1), "value"));
            }
            case AutopilotAction.LrMult or AutopilotAction.WdMult:
                return new(name, Clamp(value!.Value, MinFactor, MaxFactor, "factor"));
            case AutopilotAction.LossWeight when key is null:
                notes.Add("dropped loss_weight: no \"key\" naming the loss term");
                return null;
            case AutopilotAction.LossWeight:
                return new(name, Clamp(value!.Value, 0, MaxLossWeight, "weight"), key);
            case AutopilotAction.CbEnable or AutopilotAction.CbDisable when key is null:
                notes.Add($"dropped {name}: no \"key\" naming the callback");
                return null;
            case AutopilotAction.CbEnable or AutopilotAction.CbDisable:
                return new(name, null, key);
            default:
                notes.Add($"dropped unknown action \"{name}\"");
                return null;
        }
    }

    /// <summary>The bounds of an optimizer dial as the kernel wrote them, or the defaults.</summary>
    private static (double Lo, double Hi) Bounds(IReadOnlyList<JsonObject> dials, string key, double lo, double hi)
    {
        var dial = dials.FirstOrDefault(d => (string?)d["module"] == "opt" && (string?)d["key"] == key);
        double Get(string bound, double fallback) => dial?[bound] is JsonValue v && v.TryGetValue(out double d) ? d : fallback;
        return (Get("min", lo), Get("max", hi));
    }

    private static string StripFences(string text)
    {
        var t = text.Trim();
        if (!t.StartsWith("```", StringComparison.Ordinal)) return t;
        var firstLine = t.IndexOf('\n');
        var end = t.LastIndexOf("```", StringComparison.Ordinal);
        return firstLine < 0 || end <= firstLine ? t : t[(firstLine + 1)..end].Trim();
    }

    private static string Text(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
}
