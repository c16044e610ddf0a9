using System.Globalization;
using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Autopilot.Actions;

/// <summary>
/// What a rule does when it fires, turned into one inbox command (<see cref="ToCommand"/>) so the kernel validates,
/// applies and records it like any other change. Multipliers act on what the run has now: <c>lr_mult</c> through the
/// optimizer's <c>scheduler_drop</c> (every group's rate, the schedule going on from it), <c>wd_mult</c> against the
/// weight decay the run's dials show; <c>restore_checkpoint</c> rolls a built-in run back to the newest checkpoint it
/// kept at or before the last healthy step.
/// </summary>
public sealed record AutopilotAction(string Kind, double? Number = null, string? Key = null)
{
    public const string LrMult = "lr_mult";
    public const string WdMult = "wd_mult";
    public const string SetLr = "set_lr";
    public const string SetWd = "set_wd";
    public const string LossWeight = "loss_weight";
    public const string CbEnable = "cb_enable";
    public const string CbDisable = "cb_disable";

    /// <summary>Roll the run back to the last checkpoint it kept while healthy (<c>core restore_checkpoint</c>).</summary>
    public const string RestoreCheckpoint = "restore_checkpoint";

    public static readonly string[] Kinds = [LrMult, WdMult, SetLr, SetWd, LossWeight, CbEnable, CbDisable, RestoreCheckpoint];

    /// <summary>
    /// The command this action sends to a run whose dials are <paramref name="dials"/> (<c>kiln.actuators.json</c>), or
    /// null with the reason when there is nothing to send (a weight decay of 0 doubled is still 0).
    /// <paramref name="healthyStep"/> is the last step the metrics were healthy at: a rollback asks for the newest
    /// checkpoint at or before it.
    /// </summary>
    public (Command? Command, string? Skipped) ToCommand(IReadOnlyList<JsonObject> dials, long? healthyStep = null) => Kind switch
    {
        RestoreCheckpoint => (new Command
        {
            Module = "core", Op = "restore_checkpoint",
            Params = healthyStep is { } h ? new JsonObject { ["at_or_before"] = h } : null,
        }, null),
        LrMult => (Opt("scheduler_drop", Number!.Value), null),
        SetLr => (Opt("lr", Number!.Value), null),
        SetWd => (Opt("weight_decay", Number!.Value), null),
        WdMult => Current(dials, "opt", "weight_decay") is not { } wd
            ? (null, "the run shows no weight_decay dial")
            : wd == 0 ? (null, "weight_decay is 0, so multiplying it changes nothing")
            : (Opt("weight_decay", Math.Min(wd * Number!.Value, Max(dials, "opt", "weight_decay") ?? double.MaxValue)), null),
        LossWeight => (new Command { Module = "loss", Op = "set_params", Params = new JsonObject { [Key! + "_w"] = Number!.Value } }, null),
        CbEnable => (new Command { Module = "cb", Op = "enable", Id = Key }, null),
        CbDisable => (new Command { Module = "cb", Op = "disable", Id = Key }, null),
        _ => throw new InvalidOperationException(Kind),
    };

    private static Command Opt(string key, double value) =>
        new() { Module = "opt", Op = "set_params", Params = new JsonObject { [key] = value } };

    /// <summary>The first group's value of a dial, as the kernel last wrote it.</summary>
    private static double? Current(IReadOnlyList<JsonObject> dials, string module, string key) =>
        Dial(dials, module, key)?["value"] is JsonValue v && v.TryGetValue(out double d) ? d : null;

    private static double? Max(IReadOnlyList<JsonObject> dials, string module, string key) =>
        Dial(dials, module, key)?["max"] is JsonValue v && v.TryGetValue(out double d) ? d : null;

    private static JsonObject? Dial(IReadOnlyList<JsonObject> dials, string module, string key) =>
        dials.FirstOrDefault(d => (string?)d["module"] == module && (string?)d["key"] == key);

    /// <summary>As a rule file writes it: <c>{lr_mult: 0.5}</c>, <c>{loss_weight: {aux: 0.2}}</c>, <c>{cb_disable: ema}</c>.</summary>
    public JsonObject ToJson() => Kind switch
    {
        LossWeight => new JsonObject { [Kind] = new JsonObject { [Key!] = Number } },
        CbEnable or CbDisable => new JsonObject { [Kind] = Key },
        RestoreCheckpoint => new JsonObject { [Kind] = true },
        _ => new JsonObject { [Kind] = Number },
    };

    public override string ToString() => Kind switch
    {
        LrMult => $"lr × {Text(Number)}",
        WdMult => $"weight_decay × {Text(Number)}",
        SetLr => $"lr = {Text(Number)}",
        SetWd => $"weight_decay = {Text(Number)}",
        LossWeight => $"loss weight {Key} = {Text(Number)}",
        CbEnable => $"enable callback {Key}",
        CbDisable => $"disable callback {Key}",
        RestoreCheckpoint => "restore the last healthy checkpoint",
        _ => Kind,
    };

    private static string Text(double? v) => v?.ToString("G6", CultureInfo.InvariantCulture) ?? "";

    /// <summary>Reads <c>{kind: value}</c>, checking the kind and its value; <paramref name="where"/> names the key in errors.</summary>
    public static AutopilotAction FromJson(JsonNode? node, string where)
    {
        if (node is not JsonObject o || o.Count != 1)
            throw new ProtocolException($"{where}: an action is one key and its value, such as {{lr_mult: 0.5}} (known: {string.Join(", ", Kinds)})");
        var (kind, value) = o.First();
        switch (kind)
        {
            case LrMult or WdMult:
                return new AutopilotAction(kind, Positive(value, $"{where}.{kind}"));
            case SetLr or SetWd:
                var v = JsonValues.GetDouble(value, $"{where}.{kind}");
                if (!double.IsFinite(v) || v < 0) throw new ProtocolException($"{where}.{kind}: must be a number >= 0, got {v}");
                return new AutopilotAction(kind, v);
            case LossWeight:
                var terms = JsonValues.GetObject(value, $"{where}.{kind}");
                if (terms.Count != 1) throw new ProtocolException($"{where}.{kind}: one loss term and its weight, such as {{aux: 0.2}}");
                var (term, weight) = terms.First();
                var w = JsonValues.GetDouble(weight, $"{where}.{kind}.{term}");
                if (!double.IsFinite(w) || w < 0) throw new ProtocolException($"{where}.{kind}.{term}: must be a number >= 0, got {w}");
                return new AutopilotAction(kind, w, term);
            case RestoreCheckpoint:
                if (!JsonValues.GetBool(value, $"{where}.{kind}")) throw new ProtocolException($"{where}.{kind}: write {{{kind}: true}}");
                return new AutopilotAction(kind);
            case CbEnable or CbDisable:
                var id = JsonValues.GetString(value, $"{where}.{kind}");
                if (id.Length == 0) throw new ProtocolException($"{where}.{kind}: a callback id expected");
                return new AutopilotAction(kind, null, id);
            default:
                throw new ProtocolException($"{where}: unknown action \"{kind}\" (known: {string.Join(", ", Kinds)})");
        }
    }

    private static double Positive(JsonNode? value, string where)
    {
        var v = JsonValues.GetDouble(value, where);
        if (!double.IsFinite(v) || v <= 0) throw new ProtocolException($"{where}: must be a number > 0, got {v}");
        return v;
    }
}
