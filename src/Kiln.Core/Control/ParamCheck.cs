using System.Text.Json.Nodes;
using Kiln.Modules.Loss;
using Kiln.Modules.Opt;
using Kiln.Protocol;

namespace Kiln.Control;

/// <summary>
/// Checks an <c>opt</c> or <c>loss</c> <c>set_params</c> before it is queued, as far as it can be checked without the
/// kernel: key names, value types, finiteness and bounds — the run's own bounds and loss terms when its
/// <c>kiln.actuators.json</c> says them, Kiln's defaults otherwise. What passes here can still be refused by the kernel
/// (a group the optimizer does not have, a key it does not support); what fails here would have been refused there.
/// </summary>
public static class ParamCheck
{
    /// <summary>Throws one <see cref="ProtocolException"/> naming every faulty key and value.</summary>
    public static void Check(string module, JsonObject parameters, IReadOnlyList<JsonObject>? dials = null)
    {
        SetRouter.CheckKeys(module, parameters);
        var errors = module switch
        {
            "opt" => Opt(parameters, dials ?? []),
            "loss" => Loss(parameters, dials ?? []),
            _ => [],
        };
        if (errors.Count > 0) throw new ProtocolException(string.Join("; ", errors));
    }

    private static List<string> Opt(JsonObject parameters, IReadOnlyList<JsonObject> dials)
    {
        var errors = new List<string>();
        void Value(string key, JsonNode? value, string where)
        {
            if (OptParam.Find(key) is not { } param)
            {
                errors.Add($"{where}: unknown key (known: {string.Join(", ", OptParam.Names)})");
                return;
            }
            if (param.Read(value, BoundsOf(dials, "opt", key) ?? param.DefaultBounds, where, out _, out _) is { } error) errors.Add(error);
        }
        foreach (var (key, value) in parameters)
        {
            if (key == "group") continue;
            if (key != "groups")
            {
                Value(key, value, key);
                continue;
            }
            if (value is not JsonObject groups)
            {
                errors.Add($"groups: expected {{group: {{key: value}}}}, got {JsonValues.Show(value)}");
                continue;
            }
            foreach (var (group, values) in groups)
            {
                if (values is not JsonObject kv) errors.Add($"groups.{group}: expected {{key: value}}, got {JsonValues.Show(values)}");
                else foreach (var (key2, value2) in kv) Value(key2, value2, $"groups.{group}.{key2}");
            }
        }
        return errors;
    }

    private static List<string> Loss(JsonObject parameters, IReadOnlyList<JsonObject> dials)
    {
        var errors = new List<string>();
        var terms = dials.Where(d => Text(d["module"]) == "loss" && Text(d["key"]) is { } k && k.StartsWith("terms.", StringComparison.Ordinal))
            .Select(d => Text(d["key"])!["terms.".Length..]).Distinct().ToList();
        foreach (var (key, value) in parameters)
        {
            var term = key.StartsWith("terms.", StringComparison.Ordinal) ? key["terms.".Length..]
                : key.StartsWith("ramps.", StringComparison.Ordinal) ? key["ramps.".Length..]
                : key[..^2];
            if (terms.Count > 0 && !terms.Contains(term))
            {
                errors.Add($"{key}: no loss term '{term}' (terms: {string.Join(", ", terms)})");
                continue;
            }
            if (key.StartsWith("terms.", StringComparison.Ordinal))
            {
                if (value is not JsonValue v || v.GetValueKind() is not (System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False))
                    errors.Add($"{key}: expected true or false, got {JsonValues.Show(value)}");
            }
            else if (key.StartsWith("ramps.", StringComparison.Ordinal))
            {
                if (value is not (null or JsonObject)) errors.Add($"{key}: expected a ramp {{type, end_step | warmup_frac, start, end}} or null, got {JsonValues.Show(value)}");
            }
            else if (!JsonValues.TryGetDouble(value, out var w) || !double.IsFinite(w))
            {
                errors.Add($"{key}: expected a finite number, got {JsonValues.Show(value)}");
            }
            else if ((BoundsOf(dials, "loss", key) ?? LossModule.DefaultWeightBounds).Check(key, w) is { } error)
            {
                errors.Add(error);
            }
        }
        return errors;
    }

    /// <summary>The bounds the run's dials report for <paramref name="key"/> (the first handle that has it).</summary>
    private static Bounds? BoundsOf(IReadOnlyList<JsonObject> dials, string module, string key)
    {
        foreach (var d in dials)
        {
            if (Text(d["module"]) != module || Text(d["key"]) != key) continue;
            if (JsonValues.TryGetDouble(d["min"], out var min) && JsonValues.TryGetDouble(d["max"], out var max)) return new Bounds(min, max);
        }
        return null;
    }

    private static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue(out string? s) ? s : null;
}
