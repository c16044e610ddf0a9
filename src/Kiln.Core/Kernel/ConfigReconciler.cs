using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Kernel;

/// <summary>A module's <c>kiln.yaml</c> bounds changed: the module gets these (an empty map restores its defaults).</summary>
internal readonly record struct BoundsChange(string Module, IReadOnlyDictionary<string, Bounds> Bounds);

/// <summary>A command that brings the run in line with <c>kiln.yaml</c>; <paramref name="IfLoaded"/>: only when the callback it names is loaded.</summary>
internal readonly record struct ConfigStep(Command Command, bool IfLoaded = false);

/// <summary>What a change of <c>kiln.yaml</c> asks for, in order: kernel settings, module bounds, then commands.</summary>
internal sealed record ConfigPlan(KernelSettings? Settings, IReadOnlyList<BoundsChange> Bounds, IReadOnlyList<ConfigStep> Steps);

/// <summary>
/// Reconciles two versions of <c>kiln.yaml</c>: a pure function from the settings the run has to the settings the
/// file now says, giving the changes that lead from one to the other. Only what changed becomes a change.
/// </summary>
internal static class ConfigReconciler
{
    public static ConfigPlan Plan(KilnConfig previous, KilnConfig next)
    {
        var bounds = new List<BoundsChange>();
        var steps = new List<ConfigStep>();
        // A section that is gone counts as empty: its bounds return to the defaults, its handle is switched on.
        var modules = next.Modules.Concat(previous.Modules).Select(m => m.Module).Distinct().ToList();
        foreach (var module in modules)
        {
            var spec = next.Section(module);
            if (!SameBounds(previous.Section(module).Bounds, spec.Bounds)) bounds.Add(new BoundsChange(module, spec.Bounds));
        }
        foreach (var module in modules) Module(module, previous.Section(module), next.Section(module), steps);
        Callbacks(previous.Callbacks, next.Callbacks, steps);
        return new ConfigPlan(next.Kernel != previous.Kernel ? next.Kernel : null, bounds, steps);
    }

    private static bool SameBounds(IReadOnlyDictionary<string, Bounds> a, IReadOnlyDictionary<string, Bounds> b) =>
        a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out var v) && v == kv.Value);

    /// <summary>A module section: the handle's switch, then the params that changed (all of them for a new handle id).</summary>
    private static void Module(string module, ModuleSpec previous, ModuleSpec next, List<ConfigStep> steps)
    {
        var sameId = previous.Id == next.Id;
        if (next.Enabled != (sameId ? previous.Enabled : true))
            steps.Add(new(new Command { Module = module, Op = next.Enabled ? "enable" : "disable", Id = next.Id }));
        var changed = Changed(sameId ? previous.Params : null, next.Params);
        if (changed.Count > 0)
            steps.Add(new(new Command { Module = module, Op = "set_params", Id = next.Id, Params = changed }));
    }

    /// <summary>Callbacks: removed ones unload; new ones, or ones whose target, init or time budget changed, load; then switches and params.</summary>
    private static void Callbacks(IReadOnlyList<(string Id, CallbackSpec Spec)> previous, IReadOnlyList<(string Id, CallbackSpec Spec)> next, List<ConfigStep> steps)
    {
        var before = previous.ToDictionary(p => p.Id, p => p.Spec, StringComparer.Ordinal);
        var after = next.ToDictionary(p => p.Id, p => p.Spec, StringComparer.Ordinal);
        foreach (var (id, _) in previous)
        {
            if (!after.ContainsKey(id)) steps.Add(new(new Command { Module = "cb", Op = "unload", Id = id }));
        }
        foreach (var (id, spec) in next)
        {
            before.TryGetValue(id, out var old);
            // A new budget loads a fresh instance: one that timed out under the old budget is never called again.
            var reload = old is null || old.Target != spec.Target || !JsonNode.DeepEquals(old.Init, spec.Init) || old.TimeBudgetS != spec.TimeBudgetS;
            if (reload)
                steps.Add(new(new Command { Module = "cb", Op = "load", Id = id, Target = spec.Target, Init = spec.Init, Enabled = spec.Enabled, TimeBudgetS = spec.TimeBudgetS }));
            else if (old!.Enabled != spec.Enabled)
                steps.Add(new(new Command { Module = "cb", Op = spec.Enabled ? "enable" : "disable", Id = id }));
            var changed = Changed(reload ? null : old!.Params, spec.Params);
            if (changed.Count > 0)
                steps.Add(new(new Command { Module = "cb", Op = "set_params", Id = id, Params = changed }, IfLoaded: true));
        }
    }

    /// <summary>The keys of <paramref name="next"/> whose values differ from <paramref name="previous"/>'s (copies).</summary>
    private static JsonObject Changed(JsonObject? previous, JsonObject? next)
    {
        var changed = new JsonObject();
        if (next is null) return changed;
        foreach (var (k, v) in next)
        {
            if (previous is not null && previous.TryGetPropertyValue(k, out var old) && JsonNode.DeepEquals(old, v)) continue;
            changed[k] = v?.DeepClone();
        }
        return changed;
    }
}
