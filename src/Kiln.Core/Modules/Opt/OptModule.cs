using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Modules.Opt;

/// <summary>
/// The <c>opt</c> module: <c>enable</c>, <c>disable</c> and <c>set_params</c> on optimizer handles (<c>--id</c>, default
/// <c>main</c>). Keys: lr, weight_decay, betas, eps, momentum, clip_norm, scheduler_scale, scheduler_drop (see
/// <see cref="OptParam"/>), with <c>group</c> (one group by name or index) or <c>groups</c> (<c>{name: {key: value}}</c>) to target groups.
/// </summary>
internal sealed class OptModule() : HandleModule<IOptimizerActuator>("opt", "optimizer")
{
    public static readonly string[] SelectorKeys = ["group", "groups"];

    public static readonly IReadOnlyDictionary<string, Bounds> DefaultBounds = OptParam.All.ToDictionary(p => p.Name, p => p.DefaultBounds);

    private Dictionary<string, Bounds> _bounds = new(DefaultBounds);

    private readonly record struct Planned(int[] Groups, OptParam Param, double A, double B, string? GroupName);

    protected override void Check(IOptimizerActuator actuator)
    {
        if (actuator.Groups.Count == 0) throw new ArgumentException("an optimizer actuator needs at least one group", nameof(actuator));
    }

    /// <summary>Replaces the bounds with the defaults overlaid by <paramref name="bounds"/> (from <c>kiln.yaml</c>).</summary>
    public override void SetBounds(IReadOnlyDictionary<string, Bounds> bounds)
    {
        var merged = new Dictionary<string, Bounds>(DefaultBounds);
        foreach (var (k, b) in bounds)
        {
            if (!DefaultBounds.ContainsKey(k)) throw new ProtocolException($"opt.bounds.{k}: unknown key (known: {string.Join(", ", DefaultBounds.Keys)})");
            merged[k] = b;
        }
        _bounds = merged;
    }

    protected override OpResult? Plan(IOptimizerActuator act, JsonObject p, OpContext context, List<Action<JsonObject>> steps, List<string> errors)
    {
        if (p.ContainsKey("group") && p.ContainsKey("groups"))
            return OpResult.Rejected("group, groups: give one or the other");
        var plan = new List<Planned>();
        int[] targets = [.. Enumerable.Range(0, act.Groups.Count)];
        if (p.TryGetPropertyValue("group", out var groupNode))
        {
            var g = ResolveGroup(act, groupNode, "group", out var error);
            if (g < 0) return OpResult.Rejected(error!);
            targets = [g];
        }
        foreach (var (key, value) in p)
        {
            if (key is "group" or "groups") continue;
            if (Validate(act, key, value, key, out var param, out var a, out var b) is { } error) errors.Add(error);
            else plan.Add(new Planned(targets, param!, a, b, null));
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
                    if (OptParam.Find(key) is { IsGlobal: true }) { errors.Add($"{where}: {key} is global; set it without groups"); continue; }
                    if (key is "group" or "groups") { errors.Add($"{where}: selectors cannot nest"); continue; }
                    if (Validate(act, key, value, where, out var param, out var a, out var b) is { } err) errors.Add(err);
                    else plan.Add(new Planned([g], param!, a, b, name));
                }
            }
        }
        if (plan.Count == 0) return null;

        if (groupNode is not null) steps.Add(applied => applied["group"] = groupNode.DeepClone());
        var at = context.StepOrZero;
        // Whole-optimizer keys first, then per-group ones; within each, the documented key order (stable).
        foreach (var s in plan.OrderBy(x => x.GroupName is null ? 0 : 1).ThenBy(x => Array.IndexOf(OptParam.All, x.Param)))
        {
            steps.Add(applied =>
            {
                s.Param.Apply(act, s.Groups, s.A, s.B, at);
                Record(applied, s);
            });
        }
        return null;
    }

    private static void Record(JsonObject applied, Planned step)
    {
        var value = step.Param.Show(step.A, step.B);
        if (step.GroupName is null)
        {
            applied[step.Param.Name] = value;
            return;
        }
        if (applied["groups"] is not JsonObject groups) applied["groups"] = groups = [];
        if (groups[step.GroupName] is not JsonObject g) groups[step.GroupName] = g = [];
        g[step.Param.Name] = value;
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

    private string? Validate(IOptimizerActuator act, string key, JsonNode? value, string where, out OptParam? param, out double a, out double b)
    {
        a = b = 0;
        param = OptParam.Find(key);
        if (param is null) return $"{where}: unknown key (known: {string.Join(", ", OptParam.Names)}, group, groups)";
        if (!param.SupportedBy(act)) return $"{where}: not supported by this optimizer ({act.Kind})";
        return param.Read(value, _bounds[key], where, out a, out b);
    }

    public override void Describe(List<ActuatorState> into, long step)
    {
        foreach (var (id, act, enabled) in Handles)
        {
            for (var g = 0; g < act.Groups.Count; g++)
            {
                foreach (var dial in OptParam.Dials)
                {
                    if (!dial.IsGlobal) Add(into, id, enabled, act.Groups[g], dial, act, g, step);
                }
            }
            foreach (var dial in OptParam.Dials)
            {
                if (dial.IsGlobal) Add(into, id, enabled, null, dial, act, 0, step);
            }
        }
    }

    private void Add(List<ActuatorState> into, string id, bool enabled, string? group, OptParam dial, IOptimizerActuator act, int g, long step)
    {
        if (!dial.SupportedBy(act)) return;
        var bounds = _bounds[dial.Name];
        into.Add(new ActuatorState
        {
            Module = Name, Id = id, Key = dial.Name, Type = dial.DialType!, Group = group,
            Min = bounds.Min, Max = bounds.Max, Enabled = enabled, Value = dial.Current(act, g, step),
            Info = dial == OptParam.Lr && act.LrOf(g) is { } lr ? LrInfo(lr, step) : null,
        });
    }

    /// <summary>What makes the rate now: <c>value = base × scale × factor</c>, the factor being the schedule's at the step.</summary>
    private static JsonObject LrInfo(ScheduledLr lr, long step) => new()
    {
        ["base"] = lr.BaseLr,
        ["scale"] = lr.Scale,
        ["factor"] = lr.Schedule.Factor(step),
        ["schedule"] = lr.Schedule.ToJson(),
    };
}
