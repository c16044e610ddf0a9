using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Replay;

/// <summary>
/// Applies an adjust overlay to a recipe. Patches run in order; for each entry a patch matches
/// (or only its <c>nth</c> match), actions run as: drop → replace_params → transform_params (scale, then add)
/// → shift_step. An <c>insert</c> adds its entry. The result is ordered by step, stably.
/// </summary>
public static class AdjustOverlay
{
    public static AdjustSpec Load(string path)
    {
        var node = YamlJson.ParseJsonOrYaml(path);
        try { return AdjustSpec.FromJson(node ?? new JsonObject()); }
        catch (ProtocolException ex) { throw ex.InFile(path); }
    }

    /// <param name="notes">Receives one line per patch that matched nothing, so a typo is not silent.</param>
    public static List<RecipeEntry> Apply(IReadOnlyList<RecipeEntry> recipe, AdjustSpec spec, List<string>? notes = null)
    {
        var list = recipe.ToList();
        for (var p = 0; p < spec.Patches.Count; p++)
        {
            var patch = spec.Patches[p];
            if (patch.Match is { } match)
            {
                var hits = new List<int>();
                for (var i = 0; i < list.Count; i++) if (match.Matches(list[i])) hits.Add(i);
                if (match.Nth is { } nth) hits = nth < hits.Count ? [hits[nth]] : [];
                if (hits.Count == 0) notes?.Add($"patches[{p}] matched no recipe entry");
                var dropped = new HashSet<int>();
                foreach (var i in hits)
                {
                    if (patch.Drop) { dropped.Add(i); continue; }
                    list[i] = Change(list[i], patch, p);
                }
                if (dropped.Count > 0) list = list.Where((_, i) => !dropped.Contains(i)).ToList();
            }
            if (patch.Insert is { } insert) list.Add(insert);
        }
        return list.OrderBy(e => e.Step).ToList();
    }

    private static RecipeEntry Change(RecipeEntry e, AdjustPatch patch, int p)
    {
        var parameters = e.Params is null ? null : (JsonObject)e.Params.DeepClone();
        if (patch.ReplaceParams is { } replace)
        {
            parameters ??= [];
            foreach (var (k, v) in replace) parameters[k] = v?.DeepClone();
        }
        if (patch.TransformParams is { } transforms)
        {
            foreach (var (k, t) in transforms)
            {
                if (parameters is null || !parameters.TryGetPropertyValue(k, out var node)) continue;
                if (!JsonValues.TryGetDouble(node, out var v))
                    throw new ProtocolException($"patches[{p}].transform_params.{k}: the entry's value {JsonValues.Show(node)} is not a number");
                parameters[k] = v * t.Scale + t.Add;
            }
        }
        var step = e.Step + patch.ShiftStep;
        if (step < 0) throw new ProtocolException($"patches[{p}].shift_step: moves the entry at step {e.Step} to {step}, before step 0");
        return e with { Params = parameters, Step = step };
    }
}
