using Kiln.Autopilot.History;
using Kiln.Autopilot.Rules;

namespace Kiln.Autopilot.Engine;

/// <summary>
/// The rules over a run's metric history: fed the points the run reports (<see cref="Observe"/>), it says which enabled
/// rules hold now and are past their cooldown (<see cref="Fire"/>). It decides nothing about files or modes — that is
/// <see cref="AutopilotSession"/>'s — so it is tested by feeding it numbers.
/// </summary>
public sealed class AutopilotEngine(IReadOnlyList<Rule> rules, int historyPoints = 1000)
{
    private readonly Dictionary<string, long> _lastFired = new(StringComparer.Ordinal);

    public IReadOnlyList<Rule> Rules { get; } = rules;

    public MetricHistory History { get; } = new(historyPoints);

    public void Observe(long step, string metric, double value) => History.Add(step, metric, value);

    /// <summary>Every rule judges only the points after <paramref name="step"/>, and waits its cooldown from it, as if it had just fired.</summary>
    public void Rearm(long step)
    {
        foreach (var rule in Rules) _lastFired[rule.Id] = step;
    }

    /// <summary>The rules that hold at the newest step, each with why; each one fired is on cooldown from this step.</summary>
    public IReadOnlyList<(Rule Rule, string Rationale)> Fire()
    {
        var step = History.Step;
        var fired = new List<(Rule, string)>();
        if (step < 0) return fired;
        foreach (var rule in Rules)
        {
            if (!rule.Enabled) continue;
            var last = _lastFired.TryGetValue(rule.Id, out var l) ? l : long.MinValue;
            if (last != long.MinValue && step - last < rule.Cooldown) continue;
            if (rule.Check(History, last) is not { } why) continue;
            _lastFired[rule.Id] = step;
            fired.Add((rule, why));
        }
        return fired;
    }
}
