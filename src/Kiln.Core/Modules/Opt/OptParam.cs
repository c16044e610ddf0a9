using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Modules.Opt;

/// <summary>
/// One key of the <c>opt</c> module's <c>set_params</c>: the optimizer dial behind it, how its value is read, checked and
/// applied, and how it shows in <c>kiln.actuators.json</c>. <see cref="All"/> is the one table of them.
/// </summary>
internal sealed record OptParam(string Name, OptimizerKey Key, OptParam.Kind Shape, Bounds DefaultBounds, string? DialType)
{
    public enum Kind
    {
        /// <summary>A number per group.</summary>
        Value,
        /// <summary><c>[beta1, beta2]</c> per group.</summary>
        Pair,
        /// <summary>A number for the whole optimizer (null turns it off).</summary>
        Global,
        /// <summary>Multiplies the group's learning rate once (not a dial).</summary>
        Drop,
    }

    public static readonly OptParam Lr = new("lr", OptimizerKey.Lr, Kind.Value, new(0, 10), ActuatorState.LogFloat);
    public static readonly OptParam WeightDecay = new("weight_decay", OptimizerKey.WeightDecay, Kind.Value, new(0, 10), ActuatorState.Float);
    public static readonly OptParam Betas = new("betas", OptimizerKey.Beta1, Kind.Pair, new(0, 0.999999999), ActuatorState.Pair);
    public static readonly OptParam Eps = new("eps", OptimizerKey.Eps, Kind.Value, new(0, 1), ActuatorState.LogFloat);
    public static readonly OptParam Momentum = new("momentum", OptimizerKey.Momentum, Kind.Value, new(0, 1), ActuatorState.Float);
    public static readonly OptParam ClipNorm = new("clip_norm", OptimizerKey.ClipNorm, Kind.Global, new(0, 1e12), ActuatorState.Float);
    public static readonly OptParam SchedulerScale = new("scheduler_scale", OptimizerKey.SchedulerScale, Kind.Value, new(0, 1000), ActuatorState.Float);
    public static readonly OptParam SchedulerDrop = new("scheduler_drop", OptimizerKey.Lr, Kind.Drop, new(0, 1000), null);

    /// <summary>Every key, in the documented order: changes apply in this order, and messages list keys in it.</summary>
    public static readonly OptParam[] All = [Lr, WeightDecay, Betas, Eps, Momentum, ClipNorm, SchedulerScale, SchedulerDrop];

    /// <summary>The dials of <c>kiln.actuators.json</c>, in the order a front end shows them: per group, then global.</summary>
    public static readonly OptParam[] Dials = [Lr, WeightDecay, Momentum, Eps, Betas, SchedulerScale, ClipNorm];

    public static readonly string[] Names = [.. All.Select(p => p.Name)];

    public static OptParam? Find(string name) => Array.Find(All, p => p.Name == name);

    public bool IsGlobal => Shape == Kind.Global;

    public bool SupportedBy(IOptimizerActuator act) =>
        act.Supports(Key) && (Shape != Kind.Pair || act.Supports(OptimizerKey.Beta2));

    /// <summary>Reads and checks a value; returns the error, or null with the value in <paramref name="a"/> (and <paramref name="b"/> for a pair).</summary>
    public string? Read(JsonNode? value, Bounds bounds, string where, out double a, out double b)
    {
        a = b = 0;
        if (Shape == Kind.Pair)
        {
            if (value is not JsonArray { Count: 2 } arr || !JsonValues.TryGetDouble(arr[0], out a) || !JsonValues.TryGetDouble(arr[1], out b))
                return $"{where}: expected [beta1, beta2], got {JsonValues.Show(value)}";
            return bounds.Check(where + "[0]", a) ?? bounds.Check(where + "[1]", b);
        }
        if (Shape == Kind.Global && value is null) return null;
        if (!JsonValues.TryGetDouble(value, out a))
            return $"{where}: expected a number, got {JsonValues.Show(value)}";
        if (!double.IsFinite(a)) return $"{where}: expected a finite number, got {JsonValues.Show(value)}";
        return bounds.Check(where, a);
    }

    /// <summary>Sets the value on <paramref name="groups"/> (a global key once).</summary>
    public void Apply(IOptimizerActuator act, int[] groups, double a, double b, long step)
    {
        if (Shape == Kind.Global)
        {
            act.Set(0, Key, a, step);
            return;
        }
        foreach (var g in groups)
        {
            switch (Shape)
            {
                case Kind.Pair:
                    act.Set(g, OptimizerKey.Beta1, a, step);
                    act.Set(g, OptimizerKey.Beta2, b, step);
                    break;
                case Kind.Drop:
                    act.Set(g, OptimizerKey.Lr, act.Get(g, OptimizerKey.Lr, step) * a, step);
                    break;
                default:
                    act.Set(g, Key, a, step);
                    break;
            }
        }
    }

    /// <summary>A value as the ledger and <c>kiln.actuators.json</c> show it.</summary>
    public JsonNode Show(double a, double b) => Shape == Kind.Pair ? new JsonArray(a, b) : JsonValue.Create(a);

    /// <summary>The current value of group <paramref name="g"/>.</summary>
    public JsonNode Current(IOptimizerActuator act, int g, long step) =>
        Show(act.Get(g, Key, step), Shape == Kind.Pair ? act.Get(g, OptimizerKey.Beta2, step) : 0);
}
