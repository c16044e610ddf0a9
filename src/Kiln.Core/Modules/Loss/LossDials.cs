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

    private Term Get(string term) =>
        _terms.TryGetValue(term, out var t) ? t : throw new KeyNotFoundException($"no loss term '{term}' (terms: {string.Join(", ", _order)})");
}
