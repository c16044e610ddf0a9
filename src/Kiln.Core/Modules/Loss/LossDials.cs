using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Modules.Loss;

/// <summary>
/// Loss-term weights, switches and ramps held as plain values; the training loop asks
/// <see cref="Effective"/> for each term's multiplier. Also the reference <see cref="ILossActuator"/>.
/// </summary>
public sealed class LossDials : ILossActuator
{
    private readonly Dictionary<string, Term> _terms = new(StringComparer.Ordinal);
    private readonly List<string> _order = [];

    private sealed class Term(double weight)
    {
        public double Weight = weight;
        public bool Enabled = true;
        public LossRamp? Ramp;
    }

    public LossDials(IEnumerable<(string Term, double Weight)> terms)
    {
        foreach (var (name, weight) in terms)
        {
            if (!_terms.TryAdd(name, new Term(weight))) throw new ArgumentException($"term '{name}' given twice", nameof(terms));
            _order.Add(name);
        }
        if (_order.Count == 0) throw new ArgumentException("a loss needs at least one term", nameof(terms));
    }

    public IReadOnlyList<string> Terms => _order;

    /// <summary>weight × ramp(step), or 0 when the term is switched off.</summary>
    public double Effective(string term, long step)
    {
        var t = Get(term);
        if (!t.Enabled) return 0;
        return t.Ramp is null ? t.Weight : t.Weight * t.Ramp.At(step);
    }

    public double GetWeight(string term) => Get(term).Weight;
    public void SetWeight(string term, double weight) => Get(term).Weight = weight;
    public bool IsEnabled(string term) => Get(term).Enabled;
    public void SetEnabled(string term, bool enabled) => Get(term).Enabled = enabled;
    public LossRamp? GetRamp(string term) => Get(term).Ramp;
    public void SetRamp(string term, LossRamp? ramp) => Get(term).Ramp = ramp;

    /// <summary>Every term's weight, switch and ramp as they stand, for a checkpoint.</summary>
    public JsonObject SaveState()
    {
        var state = new JsonObject();
        foreach (var name in _order)
        {
            var t = _terms[name];
            state[name] = new JsonObject { ["weight"] = t.Weight, ["enabled"] = t.Enabled, ["ramp"] = t.Ramp?.ToJson() };
        }
        return state;
    }

    /// <summary>Sets the terms to what <see cref="SaveState"/> gave; the saved terms must be this loss's terms.</summary>
    public void RestoreState(JsonObject state, string where)
    {
        var saved = state.Select(kv => kv.Key).ToList();
        if (!saved.Order(StringComparer.Ordinal).SequenceEqual(_order.Order(StringComparer.Ordinal), StringComparer.Ordinal))
            throw new ProtocolException($"{where}: the saved loss terms [{string.Join(", ", saved)}] are not this run's [{string.Join(", ", _order)}]");
        foreach (var name in _order)
        {
            var o = JsonValues.GetObject(state[name], $"{where}.{name}");
            var t = _terms[name];
            t.Weight = JsonValues.GetDouble(o["weight"], $"{where}.{name}.weight");
            t.Enabled = JsonValues.GetBool(o["enabled"], $"{where}.{name}.enabled");
            t.Ramp = o["ramp"] is JsonObject r
                ? new LossRamp(JsonValues.GetString(r["type"], $"{where}.{name}.ramp.type"), JsonValues.GetLong(r["start_step"], $"{where}.{name}.ramp.start_step"),
                    JsonValues.GetLong(r["end_step"], $"{where}.{name}.ramp.end_step"), JsonValues.GetDouble(r["start"], $"{where}.{name}.ramp.start"),
                    JsonValues.GetDouble(r["end"], $"{where}.{name}.ramp.end"))
                : null;
        }
    }

    private Term Get(string term) =>
        _terms.TryGetValue(term, out var t) ? t : throw new KeyNotFoundException($"no loss term '{term}' (terms: {string.Join(", ", _order)})");
}
