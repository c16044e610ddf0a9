using Kiln.Autopilot.Engine;
using Kiln.Autopilot.Rules;

namespace Kiln.Autobench;

/// <summary>The rule autopilot in <c>auto</c> mode with its default rules, on the validation loss, polled at every validation.</summary>
public sealed class AutopilotController(string runDir) : IBenchController
{
    private readonly AutopilotSession _session = new(runDir, AutopilotMode.Auto, RuleSet.Defaults());

    public int Actions { get; private set; }

    public void Poll() => Actions += _session.Poll().Count(p => p.Status == ProposalStatus.Applied);
}
