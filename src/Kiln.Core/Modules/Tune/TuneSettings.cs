using System.Globalization;
using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Modules.Tune;

/// <summary>One dial <c>tune</c> may mutate: a key of <c>opt</c> or <c>loss</c>, multiplied by a factor within bounds.</summary>
/// <param name="Module"><c>opt</c> or <c>loss</c>.</param>
/// <param name="Low">The smallest factor a mutation applies (0.25: a quarter of the value now).</param>
/// <param name="High">The largest factor.</param>
/// <param name="Cooldown">Decision points to wait after a mutation of this dial before the next.</param>
public sealed record TuneKey(string Module, double Low, double High, int Cooldown, bool Enabled)
{
    public JsonObject ToJson() => new()
    {
        ["module"] = Module, ["bounds"] = new JsonArray(Low, High), ["cooldown"] = Cooldown, ["enabled"] = Enabled,
    };
}

/// <summary>
/// What <c>tune</c> does, set by <c>kiln tune set key=value</c> (dotted paths) or <c>kiln.yaml</c>'s <c>tune.params</c>:
/// <list type="bullet">
/// <item><c>mode</c>: off | observe | suggest | active | replay.</item>
/// <item><c>objective.metric</c> (val_loss), <c>objective.mode</c> (min | max).</item>
/// <item><c>segment</c>: evaluations a mutation is given before its verdict (1); <c>until</c>: the share of the step budget after which no mutation starts (1).</item>
/// <item><c>acceptance.epsilon</c> (0.001) and <c>acceptance.trend</c> (0): a mutation is kept when its segment improved the objective by more than
/// <c>epsilon</c> + <c>trend</c> × the progress of the interval before it; otherwise weights, optimizer and dials roll back. The search
/// scores a mutation by its progress minus that reference, so it learns which factors beat leaving the dial alone.</item>
/// <item><c>safety.max_reject_streak</c> (4) rejections in a row pause proposals for <c>safety.pause</c> (4) decision points; a NaN loss or objective rejects.</item>
/// <item><c>search.startup</c> (4) random proposals before the search uses the scores, <c>search.seed</c> (0).</item>
/// <item><c>keys.&lt;dial&gt;</c>: <c>{module, bounds: [low, high], cooldown, enabled}</c>; by default <c>lr</c> in [0.25, 4].</item>
/// </list>
/// </summary>
public sealed class TuneSettings
{
    public const string Off = "off";
    public const string Observe = "observe";
    public const string Suggest = "suggest";
    public const string Active = "active";
    public const string Replay = "replay";
    public static readonly string[] Modes = [Off, Observe, Suggest, Active, Replay];

    public static readonly string[] Paths =
    [
        "mode", "objective.metric", "objective.mode", "segment", "until", "acceptance.epsilon", "acceptance.trend",
        "safety.max_reject_streak", "safety.pause", "search.startup", "search.seed", "keys.<dial>",
    ];

    public string Mode { get; private set; } = Off;
    public string Metric { get; private set; } = "val_loss";
    public bool Maximize { get; private set; }
    public int Segment { get; private set; } = 1;
    public double Until { get; private set; } = 1;
    public double Epsilon { get; private set; } = 0.001;
    public double Trend { get; private set; }
    public int MaxRejectStreak { get; private set; } = 4;
    public int Pause { get; private set; } = 4;
    public int Startup { get; private set; } = 4;
    public int Seed { get; private set; }

    private readonly SortedDictionary<string, TuneKey> _keys = new(StringComparer.Ordinal) { ["lr"] = new TuneKey("opt", 0.25, 4, 0, true) };

    /// <summary>The dials tune may mutate, by key, in key order.</summary>
    public IReadOnlyDictionary<string, TuneKey> Keys => _keys;

    /// <summary>
    /// Checks every pair of <paramref name="p"/> first, then applies them all; returns what took effect. A rejected pair
    /// changes nothing (<see cref="ProtocolException"/> naming it).
    /// </summary>
    public JsonObject Set(JsonObject p)
    {
        var next = Clone();
        foreach (var (path, value) in p) next.SetOne(path, value);
        if (next.Keys.Values.All(k => !k.Enabled) && next.Mode is Active or Suggest)
            throw new ProtocolException("keys: every dial is disabled; enable one before tuning");
        CopyFrom(next);
        return (JsonObject)p.DeepClone();
    }

    private void SetOne(string path, JsonNode? value)
    {
        switch (path)
        {
            case "mode":
                var mode = JsonValues.GetString(value, path);
                Mode = Array.IndexOf(Modes, mode) >= 0 ? mode : throw new ProtocolException($"mode: expected one of {string.Join(", ", Modes)}, got {mode}");
                break;
            case "objective.metric":
                Metric = JsonValues.GetString(value, path);
                if (Metric.Length == 0) throw new ProtocolException("objective.metric: empty");
                break;
            case "objective.mode":
                Maximize = JsonValues.GetString(value, path) switch
                {
                    "min" => false,
                    "max" => true,
                    var other => throw new ProtocolException($"objective.mode: expected min or max, got {other}"),
                };
                break;
            case "segment": Segment = JsonValues.GetInt(value, path, 1, 1000); break;
            case "until": Until = Fraction(value, path); break;
            case "acceptance.epsilon": Epsilon = Finite(value, path); break;
            case "acceptance.trend": Trend = Fraction(value, path); break;
            case "safety.max_reject_streak": MaxRejectStreak = JsonValues.GetInt(value, path, 1, 1000); break;
            case "safety.pause": Pause = JsonValues.GetInt(value, path, 0, 1000); break;
            case "search.startup": Startup = JsonValues.GetInt(value, path, 0, 1000); break;
            case "search.seed": Seed = JsonValues.GetInt(value, path, 0); break;
            default:
                if (path.StartsWith("keys.", StringComparison.Ordinal)) SetKey(path["keys.".Length..], value, path);
                else throw new ProtocolException($"{path}: unknown setting (known: {string.Join(", ", Paths)})");
                break;
        }
    }

    /// <summary><c>keys.lr</c> = <c>{…}</c> or <c>false</c>, or one field: <c>keys.lr.bounds</c>, <c>.cooldown</c>, <c>.enabled</c>, <c>.module</c>.</summary>
    private void SetKey(string rest, JsonNode? value, string path)
    {
        var dot = rest.IndexOf('.', StringComparison.Ordinal);
        var name = dot < 0 ? rest : rest[..dot];
        if (name.Length == 0) throw new ProtocolException($"{path}: no dial named");
        var key = _keys.GetValueOrDefault(name) ?? new TuneKey(DefaultModule(name, path), 0.5, 2, 0, true);
        if (dot < 0)
        {
            if (value is JsonValue v && v.GetValueKind() is System.Text.Json.JsonValueKind.False or System.Text.Json.JsonValueKind.True)
            {
                key = key with { Enabled = v.GetValue<bool>() };
            }
            else
            {
                var o = JsonValues.GetObject(value, path);
                JsonValues.RejectUnknownKeys(o, ["module", "bounds", "cooldown", "enabled"], path + ": ");
                foreach (var (field, fv) in o) key = Field(key, field, fv, $"{path}.{field}");
            }
        }
        else
        {
            key = Field(key, rest[(dot + 1)..], value, path);
        }
        _keys[name] = key;
    }

    private static TuneKey Field(TuneKey key, string field, JsonNode? value, string path) => field switch
    {
        "module" => key with
        {
            Module = JsonValues.GetString(value, path) is "opt" or "loss" ? value!.GetValue<string>() : throw new ProtocolException($"{path}: expected opt or loss"),
        },
        "bounds" => Bounds(key, value, path),
        "cooldown" => key with { Cooldown = JsonValues.GetInt(value, path, 0, 1000) },
        "enabled" => key with { Enabled = JsonValues.GetBool(value, path) },
        _ => throw new ProtocolException($"{path}: unknown field (known: module, bounds, cooldown, enabled)"),
    };

    private static TuneKey Bounds(TuneKey key, JsonNode? value, string path)
    {
        if (value is not JsonArray { Count: 2 } a) throw new ProtocolException($"{path}: expected [low, high], got {JsonValues.Show(value)}");
        var low = JsonValues.GetDouble(a[0], path + "[0]");
        var high = JsonValues.GetDouble(a[1], path + "[1]");
        if (!(low > 0 && low < 1 && high > 1 && double.IsFinite(high)))
            throw new ProtocolException($"{path}: factors need 0 < low < 1 < high, got [{Show(low)}, {Show(high)}]");
        return key with { Low = low, High = high };
    }

    private static string DefaultModule(string name, string path) => name switch
    {
        "lr" or "weight_decay" => "opt",
        _ when name.EndsWith("_w", StringComparison.Ordinal) => "loss",
        _ => throw new ProtocolException($"{path}: tune mutates lr, weight_decay and loss weights (<term>_w); {name} is none of them"),
    };

    private static double Fraction(JsonNode? value, string path)
    {
        var d = JsonValues.GetDouble(value, path);
        return d is >= 0 and <= 1 ? d : throw new ProtocolException($"{path}: expected a number in [0, 1], got {Show(d)}");
    }

    private static double Finite(JsonNode? value, string path)
    {
        var d = JsonValues.GetDouble(value, path);
        return double.IsFinite(d) ? d : throw new ProtocolException($"{path}: expected a finite number");
    }

    private static string Show(double d) => d.ToString("R", CultureInfo.InvariantCulture);

    private TuneSettings Clone()
    {
        var c = new TuneSettings();
        c.CopyFrom(this);
        return c;
    }

    private void CopyFrom(TuneSettings o)
    {
        (Mode, Metric, Maximize, Segment, Until, Epsilon, Trend) = (o.Mode, o.Metric, o.Maximize, o.Segment, o.Until, o.Epsilon, o.Trend);
        (MaxRejectStreak, Pause, Startup, Seed) = (o.MaxRejectStreak, o.Pause, o.Startup, o.Seed);
        _keys.Clear();
        foreach (var (k, v) in o._keys) _keys[k] = v;
    }

    /// <summary>The settings as <c>kiln.tune.json</c> shows them (and <c>tune set</c> takes them back).</summary>
    public JsonObject ToJson() => new()
    {
        ["mode"] = Mode,
        ["objective"] = new JsonObject { ["metric"] = Metric, ["mode"] = Maximize ? "max" : "min" },
        ["segment"] = Segment,
        ["until"] = Until,
        ["acceptance"] = new JsonObject { ["epsilon"] = Epsilon, ["trend"] = Trend },
        ["safety"] = new JsonObject { ["max_reject_streak"] = MaxRejectStreak, ["pause"] = Pause },
        ["search"] = new JsonObject { ["startup"] = Startup, ["seed"] = Seed },
        ["keys"] = new JsonObject(_keys.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value.ToJson()))),
    };
}
