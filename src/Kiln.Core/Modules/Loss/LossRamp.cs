using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Modules.Loss;

/// <summary>
/// A multiplier on a loss term's weight that moves from <see cref="Start"/> at <see cref="StartStep"/> to
/// <see cref="End"/> at <see cref="EndStep"/> and holds there: effective weight = weight × ramp(step).
/// </summary>
public sealed record LossRamp(string Type, long StartStep, long EndStep, double Start, double End)
{
    public static readonly string[] Types = ["linear", "cosine", "step", "exp"];
    private static readonly string[] Fields = ["type", "start_step", "warmup_frac", "end_step", "start", "end"];

    public double At(long step)
    {
        if (step <= StartStep) return Start;
        if (step >= EndStep) return End;
        var t = (double)(step - StartStep) / (EndStep - StartStep);
        return Type switch
        {
            "linear" => Start + (End - Start) * t,
            "cosine" => Start + (End - Start) * 0.5 * (1 - Math.Cos(Math.PI * t)),
            "step" => Start,
            "exp" => Start * Math.Pow(End / Start, t),
            _ => throw new InvalidOperationException($"unknown ramp type {Type}"),
        };
    }

    /// <summary>The resolved form written in the ledger and recipes, so a replay needs nothing else.</summary>
    public JsonObject ToJson() => new()
    {
        ["type"] = Type, ["start_step"] = StartStep, ["end_step"] = EndStep, ["start"] = Start, ["end"] = End,
    };

    /// <summary>
    /// Reads <c>{type, start_step | (now), end_step | warmup_frac, start = 0, end = 1}</c>. The ramp begins at
    /// <c>start_step</c>, or at <paramref name="now"/> when none is given; <c>warmup_frac</c> gives its length as a
    /// fraction of <paramref name="maxSteps"/>.
    /// </summary>
    public static LossRamp FromJson(JsonNode? node, string key, long now, long? maxSteps)
    {
        if (node is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.String)
        {
            // `ramps.x='{"type":…}'` typed in a shell arrives as a string when the quotes were kept.
            try { node = JsonNode.Parse(v.GetValue<string>()); }
            catch (System.Text.Json.JsonException) { throw new ProtocolException($"{key}: expected a ramp object, got {JsonValues.Show(node)}"); }
        }
        var o = JsonValues.GetObject(node, key);
        JsonValues.RejectUnknownKeys(o, Fields, key + ": ");
        if (o["type"] is null) throw new ProtocolException($"{key}.type: missing (one of {string.Join(", ", Types)})");
        var type = JsonValues.GetString(o["type"], key + ".type");
        if (Array.IndexOf(Types, type) < 0) throw new ProtocolException($"{key}.type: unknown ramp \"{type}\" (known: {string.Join(", ", Types)})");
        var startStep = o["start_step"] is null ? now : JsonValues.GetLong(o["start_step"], key + ".start_step");
        if (startStep < 0) throw new ProtocolException($"{key}.start_step: must be >= 0, got {startStep}");
        long endStep;
        if (o["warmup_frac"] is { } frac)
        {
            if (o["end_step"] is not null) throw new ProtocolException($"{key}: give end_step or warmup_frac, not both");
            var f = JsonValues.GetDouble(frac, key + ".warmup_frac");
            if (!(f > 0 && f <= 1)) throw new ProtocolException($"{key}.warmup_frac: must be in (0, 1], got {Bounds.Show(f)}");
            if (maxSteps is not > 0)
                throw new ProtocolException($"{key}.warmup_frac: the run's max_steps is unknown, so give end_step instead");
            endStep = startStep + Math.Max(1, (long)Math.Round(f * maxSteps.Value));
        }
        else if (o["end_step"] is { } end)
        {
            endStep = JsonValues.GetLong(end, key + ".end_step");
        }
        else
        {
            throw new ProtocolException($"{key}: needs end_step or warmup_frac");
        }
        if (endStep <= startStep) throw new ProtocolException($"{key}.end_step: must be after start_step {startStep}, got {endStep}");
        var startValue = o["start"] is null ? 0.0 : JsonValues.GetDouble(o["start"], key + ".start");
        var endValue = o["end"] is null ? 1.0 : JsonValues.GetDouble(o["end"], key + ".end");
        if (type == "exp" && !(startValue > 0 && endValue > 0))
            throw new ProtocolException($"{key}: an exp ramp needs start > 0 and end > 0, got {Bounds.Show(startValue)} and {Bounds.Show(endValue)}");
        return new LossRamp(type, startStep, endStep, startValue, endValue);
    }
}
