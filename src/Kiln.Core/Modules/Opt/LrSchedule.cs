using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Modules.Opt;

/// <summary>A learning-rate schedule as a factor of the base rate at each step.</summary>
public abstract record LrSchedule
{
    public static readonly LrSchedule Constant = new ConstantSchedule();

    public abstract double Factor(long step);

    public abstract JsonObject ToJson();

    /// <summary>Reads <c>{type: constant}</c>, <c>{type: step, step_size, gamma}</c> or
    /// <c>{type: cosine, total_steps, warmup_steps, min_factor}</c>.</summary>
    public static LrSchedule FromJson(JsonNode? node, string key)
    {
        var o = JsonValues.GetObject(node, key);
        var type = JsonValues.GetString(o["type"], key + ".type");
        switch (type)
        {
            case "constant":
                JsonValues.RejectUnknownKeys(o, ["type"], key + ": ");
                return Constant;
            case "step":
                JsonValues.RejectUnknownKeys(o, ["type", "step_size", "gamma"], key + ": ");
                var size = JsonValues.GetLong(o["step_size"], key + ".step_size");
                if (size <= 0) throw new ProtocolException($"{key}.step_size: must be > 0, got {size}");
                return new StepSchedule(size, o["gamma"] is null ? 0.1 : JsonValues.GetDouble(o["gamma"], key + ".gamma"));
            case "cosine":
                JsonValues.RejectUnknownKeys(o, ["type", "total_steps", "warmup_steps", "min_factor"], key + ": ");
                var total = JsonValues.GetLong(o["total_steps"], key + ".total_steps");
                if (total <= 0) throw new ProtocolException($"{key}.total_steps: must be > 0, got {total}");
                var warm = o["warmup_steps"] is null ? 0 : JsonValues.GetLong(o["warmup_steps"], key + ".warmup_steps");
                if (warm < 0 || warm >= total) throw new ProtocolException($"{key}.warmup_steps: must be in [0, total_steps), got {warm}");
                return new CosineSchedule(total, warm, o["min_factor"] is null ? 0 : JsonValues.GetDouble(o["min_factor"], key + ".min_factor"));
            case "piecewise":
                JsonValues.RejectUnknownKeys(o, ["type", "milestones", "factors"], key + ": ");
                if (o["milestones"] is not JsonArray ms || o["factors"] is not JsonArray fs || fs.Count != ms.Count + 1)
                    throw new ProtocolException($"{key}: piecewise needs milestones [s1, …] and one more factor than milestones");
                var milestones = ms.Select((m, i) => JsonValues.GetLong(m, $"{key}.milestones[{i}]")).ToArray();
                if (milestones.Zip(milestones.Skip(1)).Any(p => p.Second <= p.First))
                    throw new ProtocolException($"{key}.milestones: must increase");
                return new PiecewiseSchedule(milestones, fs.Select((f, i) => JsonValues.GetDouble(f, $"{key}.factors[{i}]")).ToArray());
            default:
                throw new ProtocolException($"{key}.type: unknown schedule \"{type}\" (known: constant, step, cosine, piecewise)");
        }
    }
}

public sealed record ConstantSchedule : LrSchedule
{
    public override double Factor(long step) => 1.0;

    public override JsonObject ToJson() => new() { ["type"] = "constant" };
}

/// <summary>Multiplies by <see cref="Gamma"/> every <see cref="StepSize"/> steps, like PyTorch's StepLR.</summary>
public sealed record StepSchedule(long StepSize, double Gamma) : LrSchedule
{
    public override double Factor(long step) => Math.Pow(Gamma, Math.Max(0, step) / StepSize);

    public override JsonObject ToJson() => new() { ["type"] = "step", ["step_size"] = StepSize, ["gamma"] = Gamma };
}

/// <summary>Linear warm-up from 1/warmup to 1, then a half cosine down to <see cref="MinFactor"/> at <see cref="TotalSteps"/>.</summary>
public sealed record CosineSchedule(long TotalSteps, long WarmupSteps, double MinFactor) : LrSchedule
{
    public override double Factor(long step)
    {
        if (step < WarmupSteps) return (step + 1.0) / WarmupSteps;
        var t = Math.Clamp((double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps), 0.0, 1.0);
        return MinFactor + (1.0 - MinFactor) * 0.5 * (1.0 + Math.Cos(Math.PI * t));
    }

    public override JsonObject ToJson() => new()
    {
        ["type"] = "cosine", ["total_steps"] = TotalSteps, ["warmup_steps"] = WarmupSteps, ["min_factor"] = MinFactor,
    };
}

/// <summary>Factor <c>Factors[i]</c> once <c>i</c> milestones have been reached (a stage switch, PyTorch's MultiStepLR generalised).</summary>
public sealed record PiecewiseSchedule(long[] Milestones, double[] Factors) : LrSchedule
{
    public override double Factor(long step)
    {
        var i = 0;
        while (i < Milestones.Length && step >= Milestones[i]) i++;
        return Factors[i];
    }

    public override JsonObject ToJson() => new()
    {
        ["type"] = "piecewise",
        ["milestones"] = new JsonArray(Milestones.Select(m => (JsonNode?)m).ToArray()),
        ["factors"] = new JsonArray(Factors.Select(f => (JsonNode?)f).ToArray()),
    };
}

/// <summary>
/// A group's learning rate under a schedule: <c>lr(step) = base × scale × schedule(step)</c>.
/// Setting <c>lr</c> rebases (the schedule continues from the new value); <c>scheduler_scale</c> sets the
/// multiplier (1 restores the original schedule); <c>scheduler_drop</c> multiplies the base once.
/// </summary>
public sealed class ScheduledLr
{
    public ScheduledLr(double baseLr, LrSchedule? schedule = null)
    {
        BaseLr = baseLr;
        Schedule = schedule ?? LrSchedule.Constant;
    }

    public double BaseLr { get; private set; }
    public double Scale { get; set; } = 1.0;
    public LrSchedule Schedule { get; }

    public double At(long step) => BaseLr * Scale * Schedule.Factor(step);

    /// <summary>Puts back a base rate and scale saved earlier (a checkpoint), exactly.</summary>
    internal void Restore(double baseLr, double scale)
    {
        BaseLr = baseLr;
        Scale = scale;
    }

    /// <summary>Makes the rate at <paramref name="step"/> equal <paramref name="lr"/>; later steps follow the schedule from there.</summary>
    public void Rebase(double lr, long step)
    {
        var factor = Scale * Schedule.Factor(step);
        if (!(factor > 0))
            throw new InvalidOperationException($"cannot set lr at step {step}: the schedule's factor there is {factor}");
        BaseLr = lr / factor;
    }
}
