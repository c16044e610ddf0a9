using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Modules.Loss;

/// <summary>
/// The <c>loss</c> module: <c>enable</c>, <c>disable</c> and <c>set_params</c> on loss handles (default <c>main</c>).
/// Keys: <c>&lt;term&gt;_w</c> (weight), <c>terms.&lt;term&gt;</c> (on/off), <c>ramps.&lt;term&gt;</c> (a ramp object, or null to remove).
/// </summary>
internal sealed class LossModule() : HandleModule<ILossActuator>("loss", "loss")
{
    public static readonly Bounds DefaultWeightBounds = new(0, 100);

    private Dictionary<string, Bounds> _bounds = new(StringComparer.Ordinal);

    /// <summary>Bounds of weight keys (<c>cls_w: [0, 10]</c>); weights without one use [0, 100].</summary>
    public override void SetBounds(IReadOnlyDictionary<string, Bounds> bounds)
    {
        foreach (var k in bounds.Keys)
        {
            if (!k.EndsWith("_w", StringComparison.Ordinal) || k.Length < 3)
                throw new ProtocolException($"loss.bounds.{k}: bounds apply to weight keys (<term>_w)");
        }
        _bounds = new Dictionary<string, Bounds>(bounds, StringComparer.Ordinal);
    }

    private Bounds BoundsOf(string key) => _bounds.TryGetValue(key, out var b) ? b : DefaultWeightBounds;

    protected override OpResult? Plan(ILossActuator act, JsonObject p, OpContext context, List<Action<JsonObject>> steps, List<string> errors)
    {
        foreach (var (key, value) in p)
        {
            try
            {
                steps.Add(Validate(act, key, value, context));
            }
            catch (ProtocolException ex)
            {
                errors.Add(ex.Message);
            }
        }
        return null;
    }

    /// <summary>Checks one key and returns the step that applies it.</summary>
    private Action<JsonObject> Validate(ILossActuator act, string key, JsonNode? value, OpContext context)
    {
        if (key.StartsWith("terms.", StringComparison.Ordinal))
        {
            var term = CheckTerm(act, key, key["terms.".Length..]);
            var on = JsonValues.GetBool(value, key);
            return applied =>
            {
                act.SetEnabled(term, on);
                applied[key] = on;
            };
        }
        if (key.StartsWith("ramps.", StringComparison.Ordinal))
        {
            var term = CheckTerm(act, key, key["ramps.".Length..]);
            var ramp = value is null ? null : LossRamp.FromJson(value, key, context.StepOrZero, context.Env?.MaxSteps);
            return applied =>
            {
                act.SetRamp(term, ramp);
                applied[key] = ramp?.ToJson();
            };
        }
        if (key.EndsWith("_w", StringComparison.Ordinal) && key.Length > 2)
        {
            var term = CheckTerm(act, key, key[..^2]);
            var w = JsonValues.GetDouble(value, key);
            if (BoundsOf(key).Check(key, w) is { } error) throw new ProtocolException(error);
            return applied =>
            {
                act.SetWeight(term, w);
                applied[key] = w;
            };
        }
        throw new ProtocolException($"{key}: unknown key (use <term>_w, terms.<term> or ramps.<term>; terms: {string.Join(", ", act.Terms)})");
    }

    private static string CheckTerm(ILossActuator act, string key, string term)
    {
        foreach (var t in act.Terms) if (t == term) return term;
        throw new ProtocolException($"{key}: no loss term '{term}' (terms: {string.Join(", ", act.Terms)})");
    }

    public override void Describe(List<ActuatorState> into, long step)
    {
        foreach (var (id, act, enabled) in Handles)
        {
            foreach (var term in act.Terms)
            {
                var wkey = term + "_w";
                var b = BoundsOf(wkey);
                into.Add(new ActuatorState
                {
                    Module = Name, Id = id, Key = wkey, Type = ActuatorState.Float, Min = b.Min, Max = b.Max,
                    Value = JsonValue.Create(act.GetWeight(term)), Enabled = enabled,
                });
                into.Add(new ActuatorState
                {
                    Module = Name, Id = id, Key = "terms." + term, Type = ActuatorState.Bool,
                    Value = JsonValue.Create(act.IsEnabled(term)), Enabled = enabled,
                });
                var ramp = act.GetRamp(term);
                into.Add(new ActuatorState
                {
                    Module = Name, Id = id, Key = "ramps." + term, Type = ActuatorState.Ramp,
                    Value = ramp?.ToJson(), Enabled = enabled,
                    Info = ramp is null ? null : new JsonObject { ["factor_now"] = ramp.At(step) },
                });
            }
        }
    }

    internal static bool IsLossKey(string key) =>
        key.StartsWith("terms.", StringComparison.Ordinal) || key.StartsWith("ramps.", StringComparison.Ordinal)
        || (key.EndsWith("_w", StringComparison.Ordinal) && key.Length > 2);
}
