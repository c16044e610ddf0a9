using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Modules.Opt;

/// <summary>
/// The <c>opt</c> module: <c>enable</c>, <c>disable</c> and <c>set_params</c> on optimizer handles (<c>--id</c>, default
/// <c>main</c>). Keys: lr, weight_decay, betas, eps, momentum, clip_norm, scheduler_scale, scheduler_drop, with
/// <c>group</c> (one group by name or index) or <c>groups</c> (<c>{name: {key: value}}</c>) to target groups.
/// </summary>
internal sealed class OptModule : IKernelModule
{
    public const string DefaultId = "main";
    public static readonly string[] ValueKeys = ["lr", "weight_decay", "betas", "eps", "momentum", "clip_norm", "scheduler_scale", "scheduler_drop"];
    public static readonly string[] SelectorKeys = ["group", "groups"];

    public static readonly IReadOnlyDictionary<string, Bounds> DefaultBounds = new Dictionary<string, Bounds>
    {
        ["lr"] = new(0, 10),
        ["weight_decay"] = new(0, 10),
        ["betas"] = new(0, 0.999999999),
        ["eps"] = new(0, 1),
        ["momentum"] = new(0, 1),
        ["clip_norm"] = new(0, 1e12),
        ["scheduler_scale"] = new(0, 1000),
        ["scheduler_drop"] = new(0, 1000),
    };

    private readonly Dictionary<string, Handle> _handles = new(StringComparer.Ordinal);
    private Dictionary<string, Bounds> _bounds = new(DefaultBounds);

    private sealed class Handle(IOptimizerActuator actuator)
    {
        public IOptimizerActuator Actuator { get; } = actuator;
        public bool Enabled { get; set; } = true;
    }

    private readonly record struct Planned(int[] Groups, string Key, double A, double B, string? GroupName);

    public string Name => "opt";

    public bool HasActuators => _handles.Count > 0;

    public void Register(string id, IOptimizerActuator actuator)
    {
        if (actuator.Groups.Count == 0) throw new ArgumentException("an optimizer actuator needs at least one group", nameof(actuator));
        _handles[id] = new Handle(actuator);
    }

    public bool IsEnabled(string id) => _handles.TryGetValue(id, out var h) && h.Enabled;

    /// <summary>Replaces the bounds with the defaults overlaid by <paramref name="overrides"/> (from <c>kiln.yaml</c>).</summary>
    public void SetBounds(IReadOnlyDictionary<string, Bounds> overrides)
    {
        var merged = new Dictionary<string, Bounds>(DefaultBounds);
        foreach (var (k, b) in overrides)
        {
            if (!DefaultBounds.ContainsKey(k)) throw new ProtocolException($"opt.bounds.{k}: unknown key (known: {string.Join(", ", DefaultBounds.Keys)})");
            merged[k] = b;
        }
        _bounds = merged;
    }

    public OpResult Apply(Command command, OpContext context)
    {
        var id = command.Id ?? DefaultId;
        if (!_handles.TryGetValue(id, out var handle))
        {
            return _handles.Count == 0
                ? OpResult.Rejected("no optimizer actuator is registered in this run")
                : OpResult.Rejected($"id: no optimizer '{id}' (known: {string.Join(", ", _handles.Keys)})");
        }
        switch (command.Op)
        {
            case "enable":
                if (handle.Enabled) return OpResult.Noop($"opt:{id} is already enabled");
                handle.Enabled = true;
                return OpResult.Applied();
            case "disable":
                if (!handle.Enabled) return OpResult.Noop($"opt:{id} is already disabled");
                handle.Enabled = false;
                return OpResult.Applied();
            case "set_params":
                if (!handle.Enabled) return OpResult.Noop($"opt:{id} is disabled; `kiln opt enable --id {id}` turns it back on");
                return SetParams(id, handle, command.Params, context);
            default:
                return OpResult.Rejected($"op: unknown op \"{command.Op}\" for module opt (known: enable, disable, set_params)");
        }
    }

    private OpResult SetParams(string id, Handle handle, JsonObject? p, OpContext context)
    {
        if (p is null || p.Count == 0) return OpResult.Rejected("params: nothing to set (give key=value pairs)");
        var act = handle.Actuator;
        var all = Enumerable.Range(0, act.Groups.Count).ToArray();
        var errors = new List<string>();
        var plan = new List<Planned>();
        var payload = new JsonObject();

        if (p.ContainsKey("group") && p.ContainsKey("groups"))
            return OpResult.Rejected("group, groups: give one or the other");
        var targets = all;
        if (p.TryGetPropertyValue("group", out var groupNode))
        {
            var g = ResolveGroup(act, groupNode, "group", out var error);
            if (g < 0) return OpResult.Rejected(error!);
            targets = [g];
            payload["group"] = groupNode?.DeepClone();
        }
        foreach (var (key, value) in p)
        {
            if (key is "group" or "groups") continue;
            if (Validate(act, key, value, key, out var a, out var b) is { } error) errors.Add(error);
            else plan.Add(new Planned(targets, key, a, b, null));
        }
        if (p.TryGetPropertyValue("groups", out var groupsNode))
        {
            if (groupsNode is not JsonObject groups || groups.Count == 0)
                return OpResult.Rejected($"groups: expected {{group: {{key: value}}}}, got {JsonValues.Show(groupsNode)}");
            foreach (var (name, values) in groups)
            {
                var g = ResolveGroup(act, JsonValue.Create(name), $"groups.{name}", out var error);
                if (g < 0) { errors.Add(error!); continue; }
                if (values is not JsonObject kv || kv.Count == 0) { errors.Add($"groups.{name}: expected {{key: value}}, got {JsonValues.Show(values)}"); continue; }
                foreach (var (key, value) in kv)
                {
                    var where = $"groups.{name}.{key}";
                    if (key == "clip_norm") { errors.Add($"{where}: clip_norm is global; set it without groups"); continue; }
                    if (key is "group" or "groups") { errors.Add($"{where}: selectors cannot nest"); continue; }
                    if (Validate(act, key, value, where, out var a, out var b) is { } err) errors.Add(err);
                    else plan.Add(new Planned([g], key, a, b, name));
                }
            }
        }
        if (plan.Count == 0) return OpResult.Rejected(string.Join("; ", errors));

        // Whole-optimizer keys first, then per-group ones; within each, the documented key order (stable).
        var ordered = plan.OrderBy(x => x.GroupName is null ? 0 : 1).ThenBy(x => Array.IndexOf(ValueKeys, x.Key));
        var applied = new JsonObject();
        if (payload["group"] is { } sel) applied["group"] = sel.DeepClone();
        try
        {
            foreach (var step in ordered)
            {
                Execute(act, step, context.StepOrZero);
                Record(applied, step);
            }
        }
        catch (Exception ex)
        {
            string? notes = null;
            if (context.AutoDisableOnError)
            {
                handle.Enabled = false;
                notes = $"opt:{id} disabled after the error; `kiln opt enable --id {id}` turns it back on";
            }
            return OpResult.Failed(ex, applied, Join(notes, errors));
        }
        return OpResult.Applied(applied, errors.Count > 0 ? string.Join("; ", errors) : null);
    }

    private static string? Join(string? notes, List<string> errors) =>
        errors.Count == 0 ? notes : notes is null ? string.Join("; ", errors) : notes + "; " + string.Join("; ", errors);

    private static void Record(JsonObject applied, Planned step)
    {
        JsonNode value = step.Key == "betas" ? new JsonArray(step.A, step.B) : JsonValue.Create(step.A);
        if (step.GroupName is null)
        {
            applied[step.Key] = value;
            return;
        }
        if (applied["groups"] is not JsonObject groups) applied["groups"] = groups = [];
        if (groups[step.GroupName] is not JsonObject g) groups[step.GroupName] = g = [];
        g[step.Key] = value;
    }

    private static void Execute(IOptimizerActuator act, Planned step, long at)
    {
        foreach (var g in step.Groups)
        {
            switch (step.Key)
            {
                case "lr": act.Set(g, OptimizerKey.Lr, step.A, at); break;
                case "weight_decay": act.Set(g, OptimizerKey.WeightDecay, step.A, at); break;
                case "eps": act.Set(g, OptimizerKey.Eps, step.A, at); break;
                case "momentum": act.Set(g, OptimizerKey.Momentum, step.A, at); break;
                case "betas":
                    act.Set(g, OptimizerKey.Beta1, step.A, at);
                    act.Set(g, OptimizerKey.Beta2, step.B, at);
                    break;
                case "scheduler_scale": act.Set(g, OptimizerKey.SchedulerScale, step.A, at); break;
                case "scheduler_drop": act.Set(g, OptimizerKey.Lr, act.Get(g, OptimizerKey.Lr, at) * step.A, at); break;
                case "clip_norm":
                    act.Set(0, OptimizerKey.ClipNorm, step.A, at);
                    return;
            }
        }
    }

    private static int ResolveGroup(IOptimizerActuator act, JsonNode? node, string where, out string? error)
    {
        error = null;
        string? name = node is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.String ? v.GetValue<string>() : null;
        if (name is not null)
        {
            for (var i = 0; i < act.Groups.Count; i++) if (act.Groups[i] == name) return i;
        }
        if (JsonValues.TryGetLong(node, out var index) || long.TryParse(name, out index))
        {
            if (index >= 0 && index < act.Groups.Count) return (int)index;
        }
        error = $"{where}: no group {JsonValues.Show(node)} (groups: {string.Join(", ", act.Groups)})";
        return -1;
    }

    private string? Validate(IOptimizerActuator act, string key, JsonNode? value, string where, out double a, out double b)
    {
        a = b = 0;
        if (Array.IndexOf(ValueKeys, key) < 0)
            return $"{where}: unknown key (known: {string.Join(", ", ValueKeys)}, group, groups)";
        var required = key switch
        {
            "lr" or "scheduler_drop" => OptimizerKey.Lr,
            "weight_decay" => OptimizerKey.WeightDecay,
            "eps" => OptimizerKey.Eps,
            "momentum" => OptimizerKey.Momentum,
            "betas" => OptimizerKey.Beta1,
            "scheduler_scale" => OptimizerKey.SchedulerScale,
            _ => OptimizerKey.ClipNorm,
        };
        if (!act.Supports(required) || (key == "betas" && !act.Supports(OptimizerKey.Beta2)))
            return $"{where}: not supported by this optimizer ({act.Kind})";
        var bounds = _bounds[key];
        if (key == "betas")
        {
            if (value is not JsonArray { Count: 2 } arr || !JsonValues.TryGetDouble(arr[0], out a) || !JsonValues.TryGetDouble(arr[1], out b))
                return $"{where}: expected [beta1, beta2], got {JsonValues.Show(value)}";
            return bounds.Check(where + "[0]", a) ?? bounds.Check(where + "[1]", b);
        }
        if (key == "clip_norm" && value is null) return null;
        if (!JsonValues.TryGetDouble(value, out a))
            return $"{where}: expected a number, got {JsonValues.Show(value)}";
        if (!double.IsFinite(a)) return $"{where}: expected a finite number, got {JsonValues.Show(value)}";
        return bounds.Check(where, a);
    }

    public void Describe(List<ActuatorState> into, long step)
    {
        foreach (var (id, h) in _handles)
        {
            var act = h.Actuator;
            for (var g = 0; g < act.Groups.Count; g++)
            {
                var group = act.Groups[g];
                Add(into, id, h, group, "lr", ActuatorState.LogFloat, act, g, OptimizerKey.Lr, step);
                Add(into, id, h, group, "weight_decay", ActuatorState.Float, act, g, OptimizerKey.WeightDecay, step);
                Add(into, id, h, group, "momentum", ActuatorState.Float, act, g, OptimizerKey.Momentum, step);
                Add(into, id, h, group, "eps", ActuatorState.LogFloat, act, g, OptimizerKey.Eps, step);
                if (act.Supports(OptimizerKey.Beta1) && act.Supports(OptimizerKey.Beta2))
                {
                    into.Add(new ActuatorState
                    {
                        Module = Name, Id = id, Key = "betas", Type = ActuatorState.Pair, Group = group,
                        Min = _bounds["betas"].Min, Max = _bounds["betas"].Max, Enabled = h.Enabled,
                        Value = new JsonArray(act.Get(g, OptimizerKey.Beta1, step), act.Get(g, OptimizerKey.Beta2, step)),
                    });
                }
                Add(into, id, h, group, "scheduler_scale", ActuatorState.Float, act, g, OptimizerKey.SchedulerScale, step);
            }
            Add(into, id, h, null, "clip_norm", ActuatorState.Float, act, 0, OptimizerKey.ClipNorm, step);
        }
    }

    private void Add(List<ActuatorState> into, string id, Handle h, string? group, string key, string type, IOptimizerActuator act, int g, OptimizerKey k, long step)
    {
        if (!act.Supports(k)) return;
        into.Add(new ActuatorState
        {
            Module = Name, Id = id, Key = key, Type = type, Group = group,
            Min = _bounds[key].Min, Max = _bounds[key].Max, Enabled = h.Enabled,
            Value = JsonValue.Create(act.Get(g, k, step)),
        });
    }
}
