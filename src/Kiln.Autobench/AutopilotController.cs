using Kiln.Autopilot.Engine;
using Kiln.Autopilot.Probe;
using Kiln.Autopilot.Rules;

namespace Kiln.Autobench;

/// <summary>
/// The rule autopilot in <c>auto</c> mode as the goal asks it to steer: a learning-rate probe first
/// (<see cref="LrProbe"/>), then, knowing the budget, a cosine decay from the rate it chose (<see cref="LrAnneal"/>) with
/// <see cref="RuleSet.Steer"/>'s guards (rollback and cuts on divergence); without a budget, Steer's plateau-driven halving
/// instead of the decay. Polled at every validation.
/// </summary>
public sealed class AutopilotController(string runDir, long? budget = null) : IBenchController
{
    private readonly AutopilotSession _session = new(runDir, AutopilotMode.Auto,
        budget is null ? RuleSet.Steer() : [.. RuleSet.Steer().Where(r => r.Id != "plateau_val")],
        probe: new LrProbe(), anneal: budget is { } b ? new LrAnneal(b) : null);

    public int Actions { get; private set; }

    public void Poll() => Actions += _session.Poll().Count(p => p.Status == ProposalStatus.Applied);
}
