using Kiln.Autopilot.Ai;
using Kiln.Autopilot.Engine;
using Kiln.Autopilot.Rules;

namespace Kiln.Autobench;

/// <summary>
/// The AI autopilot in <c>ai_auto</c> mode: the default rules raise alerts, the model decides, and its actions go to the
/// inbox as the autopilot's. For a comparable run the bench waits for each call at the validation that made it, so its
/// answer applies from the next validation whatever the endpoint's latency (a live run never waits).
/// </summary>
public sealed class AiAutopilotController : IBenchController
{
    private readonly AutopilotSession _session;
    private readonly AiPilot _ai;

    public AiAutopilotController(string runDir, AiSettings settings)
    {
        _ai = new AiPilot(runDir, settings, AiClients.Create(settings));
        _session = new AutopilotSession(runDir, AutopilotMode.AiAuto, RuleSet.Defaults(), ai: _ai);
    }

    public int Actions { get; private set; }

    public void Poll()
    {
        Actions += _session.Poll().Count(p => p.Status == ProposalStatus.Applied);
        _ai.WaitForCall();
    }
}
