using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Modules.Opt;

/// <summary>
/// The dials of one parameter group: its learning rate under a schedule, weight decay, betas, eps and momentum, read
/// and set by <see cref="OptimizerKey"/>. <see cref="OptimizerDials"/> holds them for a loop that reads numbers;
/// Kiln.Train's parameter groups are them.
/// </summary>
public class GroupDials(string name, double lr, LrSchedule? schedule = null)
{
    public string Name { get; } = name;
    public ScheduledLr Lr { get; } = new(lr, schedule);
    public double WeightDecay { get; set; }
    public double Beta1 { get; set; } = 0.9;
    public double Beta2 { get; set; } = 0.999;
    public double Eps { get; set; } = 1e-8;
    public double Momentum { get; set; }

    /// <summary>The value of a per-group key at <paramref name="step"/>; <see cref="OptimizerKey.ClipNorm"/> belongs to the optimizer, not a group.</summary>
    public double Get(OptimizerKey key, long step) => key switch
    {
        OptimizerKey.Lr => Lr.At(step),
        OptimizerKey.WeightDecay => WeightDecay,
        OptimizerKey.Beta1 => Beta1,
        OptimizerKey.Beta2 => Beta2,
        OptimizerKey.Eps => Eps,
        OptimizerKey.Momentum => Momentum,
        OptimizerKey.SchedulerScale => Lr.Scale,
        _ => throw new ArgumentOutOfRangeException(nameof(key), key, "not a per-group key"),
    };

    /// <summary>Sets a per-group key; setting <see cref="OptimizerKey.Lr"/> rebases the schedule at <paramref name="step"/>.</summary>
    public void Set(OptimizerKey key, double value, long step)
    {
        switch (key)
        {
            case OptimizerKey.Lr: Lr.Rebase(value, step); break;
            case OptimizerKey.WeightDecay: WeightDecay = value; break;
            case OptimizerKey.Beta1: Beta1 = value; break;
            case OptimizerKey.Beta2: Beta2 = value; break;
            case OptimizerKey.Eps: Eps = value; break;
            case OptimizerKey.Momentum: Momentum = value; break;
            case OptimizerKey.SchedulerScale: Lr.Scale = value; break;
            default: throw new ArgumentOutOfRangeException(nameof(key), key, "not a per-group key");
        }
    }

    /// <summary>The values the dials hold now, for a checkpoint; the schedule is the code's and is not part of it.</summary>
    public JsonObject SaveState() => new()
    {
        ["base_lr"] = Lr.BaseLr, ["scheduler_scale"] = Lr.Scale, ["weight_decay"] = WeightDecay, ["beta1"] = Beta1, ["beta2"] = Beta2,
        ["eps"] = Eps, ["momentum"] = Momentum,
    };

    /// <summary>
    /// Sets the dials to values <see cref="SaveState"/> gave. The base rate is set as it was, not through a rebase, which
    /// would divide by the schedule's factor and could change its last bit.
    /// </summary>
    public void RestoreState(JsonObject state, string where)
    {
        double Get(string key) => JsonValues.GetDouble(state[key], $"{where}.{key}");
        Lr.Restore(Get("base_lr"), Get("scheduler_scale"));
        WeightDecay = Get("weight_decay");
        Beta1 = Get("beta1");
        Beta2 = Get("beta2");
        Eps = Get("eps");
        Momentum = Get("momentum");
    }
}
