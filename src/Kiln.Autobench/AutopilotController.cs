using Kiln.Autopilot.Engine;
using Kiln.Autopilot.Probe;
using Kiln.Autopilot.Rules;

namespace Kiln.Autobench;

/// <summary>
/// The rule autopilot in <c>auto</c> mode as the goal asks it to steer: a learning-rate probe first
/// (<see cref="LrProbe"/>), then <see cref="RuleSet.Steer"/> (plateau-driven decay, cuts on divergence); polled at every validation.
/// </summary>
public sealed class AutopilotController(string runDir) : IBenchController
{
    private readonly AutopilotSession _session = new(runDir, AutopilotMode.Auto, RuleSet.Steer(), probe: new LrProbe());

    public int Actions { get; private set; }

    public void Poll() => Actions += _session.Poll().Count(p => p.Status == ProposalStatus.Applied);
}
