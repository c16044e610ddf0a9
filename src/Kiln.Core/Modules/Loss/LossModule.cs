using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Modules.Loss;

/// <summary>
/// The <c>loss</c> module: <c>enable</c>, <c>disable</c> and <c>set_params</c> on loss handles (default <c>main</c>).
/// Keys: <c>&lt;term&gt;_w</c> (weight), <c>terms.&lt;term&gt;</c> (on/off), <c>ramps.&lt;term&gt;</c> (a ramp object, or null to remove).
/// </summary>
internal sealed class LossModule : IKernelModule
{
    public const string DefaultId = "main";
    public static readonly Bounds DefaultWeightBounds = new(0, 100);

    private readonly Dictionary<string, Handle> _handles = new(StringComparer.Ordinal);
    private Dictionary<string, Bounds> _bounds = new(StringComparer.Ordinal);

    private sealed class Handle(ILossActuator actuator)
    {
        public ILossActuator Actuator { get; } = actuator;
        public bool Enabled { get; set; } = true;
    }

    private enum Kind { Weight, Term, Ramp }

    private readonly record struct Planned(Kind Kind, string Key, string Term, double Weight, bool On, LossRamp? Ramp);

    public string Name => "loss";

    public void Register(string id, ILossActuator actuator) => _handles[id] = new Handle(actuator);

    public bool IsEnabled(string id) => _handles.TryGetValue(id, out var h) && h.Enabled;

    /// <summary>Bounds of weight keys (<c>cls_w: [0, 10]</c>); weights without one use [0, 100].</summary>
    public void SetBounds(IReadOnlyDictionary<string, Bounds> bounds)
    {
        foreach (var k in bounds.Keys)
        {
            if (!k.EndsWith("_w", StringComparison.Ordinal) || k.Length < 3)
                throw new ProtocolException($"loss.bounds.{k}: bounds apply to weight keys (<term>_w)");
        }
        _bounds = new Dictionary<string, Bounds>(bounds, StringComparer.Ordinal);
    }

    private Bounds BoundsOf(string key) => _bounds.TryGetValue(key, out var b) ? b : DefaultWeightBounds;

    public OpResult Apply(Command command, OpContext context)
    {
        var id = command.Id ?? DefaultId;
        if (!_handles.TryGetValue(id, out var handle))
        {
            return _handles.Count == 0
                ? OpResult.Rejected("no loss actuator is registered in this run")
                : OpResult.Rejected($"id: no loss '{id}' (known: {string.Join(", ", _handles.Keys)})");
        }
        switch (command.Op)
        {
            case "enable":
                if (handle.Enabled) return OpResult.Noop($"loss:{id} is already enabled");
                handle.Enabled = true;
                return OpResult.Applied();
            case "disable":
                if (!handle.Enabled) return OpResult.Noop($"loss:{id} is already disabled");
                handle.Enabled = false;
                return OpResult.Applied();
            case "set_params":
                if (!handle.Enabled) return OpResult.Noop($"loss:{id} is disabled; `kiln loss enable --id {id}` turns it back on");
                return SetParams(id, handle, command.Params, context);
            default:
                return OpResult.Rejected($"op: unknown op \"{command.Op}\" for module loss (known: enable, disable, set_params)");
        }
    }

    private OpResult SetParams(string id, Handle handle, JsonObject? p, OpContext context)
    {
        if (p is null || p.Count == 0) return OpResult.Rejected("params: nothing to set (give key=value pairs)");
        var act = handle.Actuator;
        var errors = new List<string>();
        var plan = new List<Planned>();
        foreach (var (key, value) in p)
        {
            try
            {
                plan.Add(Validate(act, key, value, context));
            }
            catch (ProtocolException ex)
            {
                errors.Add(ex.Message);
            }
        }
        if (plan.Count == 0) return OpResult.Rejected(string.Join("; ", errors));
        var applied = new JsonObject();
        try
        {
            foreach (var step in plan)
            {
                switch (step.Kind)
                {
                    case Kind.Weight:
                        act.SetWeight(step.Term, step.Weight);
                        applied[step.Key] = step.Weight;
                        break;
                    case Kind.Term:
                        act.SetEnabled(step.Term, step.On);
                        applied[step.Key] = step.On;
                        break;
                    case Kind.Ramp:
                        act.SetRamp(step.Term, step.Ramp);
                        applied[step.Key] = step.Ramp?.ToJson();
                        break;
                }
            }
        }
        catch (Exception ex)
        {
            string? notes = null;
            if (context.AutoDisableOnError)
            {
                handle.Enabled = false;
                notes = $"loss:{id} disabled after the error; `kiln loss enable --id {id}` turns it back on";
            }
            return OpResult.Failed(ex, applied, notes);
        }
        return OpResult.Applied(applied, errors.Count > 0 ? string.Join("; ", errors) : null);
    }

    private Planned Validate(ILossActuator act, string key, JsonNode? value, OpContext context)
    {
        if (key.StartsWith("terms.", StringComparison.Ordinal))
        {
            var term = CheckTerm(act, key, key["terms.".Length..]);
            return new Planned(Kind.Term, key, term, 0, JsonValues.GetBool(value, key), null);
        }
        if (key.StartsWith("ramps.", StringComparison.Ordinal))
        {
            var term = CheckTerm(act, key, key["ramps.".Length..]);
            var ramp = value is null ? null : LossRamp.FromJson(value, key, context.StepOrZero, context.Env?.MaxSteps);
            return new Planned(Kind.Ramp, key, term, 0, false, ramp);
        }
        if (key.EndsWith("_w", StringComparison.Ordinal) && key.Length > 2)
        {
            var term = CheckTerm(act, key, key[..^2]);
            var w = JsonValues.GetDouble(value, key);
            if (BoundsOf(key).Check(key, w) is { } error) throw new ProtocolException(error);
            return new Planned(Kind.Weight, key, term, w, false, null);
        }
        throw new ProtocolException($"{key}: unknown key (use <term>_w, terms.<term> or ramps.<term>; terms: {string.Join(", ", act.Terms)})");
    }

    private static string CheckTerm(ILossActuator act, string key, string term)
    {
        foreach (var t in act.Terms) if (t == term) return term;
        throw new ProtocolException($"{key}: no loss term '{term}' (terms: {string.Join(", ", act.Terms)})");
    }

    public void Describe(List<ActuatorState> into, long step)
    {
        foreach (var (id, h) in _handles)
        {
            foreach (var term in h.Actuator.Terms)
            {
                var wkey = term + "_w";
                var b = BoundsOf(wkey);
                into.Add(new ActuatorState
                {
                    Module = Name, Id = id, Key = wkey, Type = ActuatorState.Float, Min = b.Min, Max = b.Max,
                    Value = JsonValue.Create(h.Actuator.GetWeight(term)), Enabled = h.Enabled,
                });
                into.Add(new ActuatorState
                {
                    Module = Name, Id = id, Key = "terms." + term, Type = ActuatorState.Bool,
                    Value = JsonValue.Create(h.Actuator.IsEnabled(term)), Enabled = h.Enabled,
                });
                var ramp = h.Actuator.GetRamp(term);
                into.Add(new ActuatorState
                {
                    Module = Name, Id = id, Key = "ramps." + term, Type = ActuatorState.Ramp,
                    Value = ramp?.ToJson(), Enabled = h.Enabled,
                    Info = ramp is null ? null : new JsonObject { ["factor_now"] = ramp.At(step) },
                });
            }
        }
    }

    internal static bool IsLossKey(string key) =>
        key.StartsWith("terms.", StringComparison.Ordinal) || key.StartsWith("ramps.", StringComparison.Ordinal)
        || (key.EndsWith("_w", StringComparison.Ordinal) && key.Length > 2);

}
