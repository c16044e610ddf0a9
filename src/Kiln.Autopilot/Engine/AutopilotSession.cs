using System.Text.Json.Nodes;
using Kiln.Autopilot.Ai;
using Kiln.Autopilot.Probe;
using Kiln.Autopilot.Rules;
using Kiln.Control;
using Kiln.Metrics;
using Kiln.Protocol;

namespace Kiln.Autopilot.Engine;

/// <summary>
/// The autopilot on one run directory: each <see cref="Poll"/> reads what the run reported since the last one (through
/// Core's <see cref="MetricsReader"/>), lets the rules fire, and — by the mode — sends their actions to the run's inbox
/// with source <c>autopilot</c> or leaves them as suggestions; either way each one is a line of
/// <see cref="AutopilotLog"/> with its rationale. It never touches the run otherwise: the kernel validates, applies and
/// records every action, so a run the autopilot steered replays exactly from its recipe.
/// </summary>
public sealed class AutopilotSession
{
    private readonly MetricsReader _reader;
    private readonly AutopilotEngine _engine;
    private readonly RunControl _control;
    private readonly TimeProvider _time;

    /// <param name="ai">The AI autopilot, for the <c>ai_suggest</c> and <c>ai_auto</c> modes (and only for them).</param>
    /// <param name="probe">A learning-rate probe to run first; the rules wait until it is done, and then judge only what followed it.</param>
    /// <param name="anneal">The cosine decay that follows the probe (needs the probe).</param>
    public AutopilotSession(string runDir, string mode, IReadOnlyList<Rule> rules, TimeProvider? time = null, AiPilot? ai = null, LrProbe? probe = null, LrAnneal? anneal = null)
    {
        Probe = probe;
        Anneal = anneal is not null && probe is null ? throw new ArgumentException("the decay follows the probe: give both", nameof(anneal)) : anneal;
        if (!AutopilotMode.All.Contains(mode)) throw new ProtocolException($"--autopilot: unknown mode \"{mode}\" (known: {string.Join(", ", AutopilotMode.All)})");
        if (AutopilotMode.IsAi(mode) != ai is not null)
            throw new ProtocolException(ai is null ? $"--autopilot {mode}: the AI autopilot needs its model's settings" : $"--autopilot {mode}: the AI settings apply to ai_suggest and ai_auto only");
        Ai = ai;
        Dir = Path.GetFullPath(runDir);
        Mode = mode;
        _time = time ?? TimeProvider.System;
        _reader = new MetricsReader(Path.Combine(Dir, RunFiles.Metrics));
        _engine = new AutopilotEngine(rules);
        _control = new RunControl(Dir, Sources.Autopilot, _time);
        Log = new AutopilotLog(Dir);
    }

    public string Dir { get; }
    public string Mode { get; }
    public AutopilotLog Log { get; }
    public IReadOnlyList<Rule> Rules => _engine.Rules;

    /// <summary>The learning-rate probe the session starts with, or null.</summary>
    public LrProbe? Probe { get; }

    /// <summary>The decay after the probe, or null.</summary>
    public LrAnneal? Anneal { get; }

    /// <summary>The AI autopilot in the <c>ai_*</c> modes; else null.</summary>
    public AiPilot? Ai { get; }

    /// <summary>How many proposals of the log the AI's prompt recalls.</summary>
    private const int RecalledDecisions = 5;

    /// <summary>Reads the new metrics and acts on the rules that fire; returns the proposals made.</summary>
    public IReadOnlyList<Proposal> Poll()
    {
        _reader.Read();
        foreach (var (name, series) in _reader.Series)
        {
            var steps = series.Steps;
            var values = series.Values;
            for (var i = 0; i < series.Count; i++) _engine.Observe(steps[i], name, values[i]);
        }
        _reader.Forget();
        if (Mode == AutopilotMode.Off) return [];
        var made = new List<Proposal>();
        if (Probe is { Done: false })
        {
            // The probe's segments are not the run's trend: the rules sit them out and judge only what comes after.
            foreach (var (action, why, back) in Probe.Next(_engine.History))
                made.Add(Propose(LrProbe.RuleId, why, action, Confidences.High, Mode is AutopilotMode.Auto or AutopilotMode.AiAuto ? ProposalStatus.Applied : ProposalStatus.Suggested, back));
            _engine.Rearm(_engine.History.Step);
            if (Probe.Done && Probe.Chosen is { } chosen) Anneal?.Start(_engine.History.Step + 1, chosen);
            return made;
        }
        if (Anneal?.Next(_engine.History) is { } decay)
            made.Add(Propose(LrAnneal.RuleId, decay.Rationale, decay.Action, Confidences.High, Mode is AutopilotMode.Auto or AutopilotMode.AiAuto ? ProposalStatus.Applied : ProposalStatus.Suggested));
        var alerts = new List<(string, string)>();
        foreach (var (rule, why) in _engine.Fire())
        {
            made.Add(Propose(rule.Id, why, rule.Action, rule.Confidence, StatusFor(rule), HealthyStep(rule)));
            alerts.Add((rule.Id, why));
        }
        if (Ai is not null) made.AddRange(Consult(alerts));
        return made;
    }

    private Proposal Propose(string rule, string why, Actions.AutopilotAction action, string confidence, string status, long? healthy = null)
    {
        var proposal = new Proposal
        {
            Id = Command.NewCid(), Rule = rule, Step = _engine.History.Step, Ts = Now(), Rationale = why, Action = action,
            Confidence = confidence, Status = status, HealthyStep = healthy,
        };
        if (proposal.Status == ProposalStatus.Applied) proposal = Send(proposal, ProposalStatus.Applied, note: null);
        Log.Append(proposal);
        return proposal;
    }

    /// <summary>
    /// The AI autopilot's turn: a finished call's actions become proposals (applied in <c>ai_auto</c>, suggested in
    /// <c>ai_suggest</c>) with the model's reasoning as their rationale; then, when it is time, the next call starts in
    /// the background. Nothing here waits for the model.
    /// </summary>
    private IEnumerable<Proposal> Consult(List<(string Rule, string Why)> alerts)
    {
        var made = new List<Proposal>();
        if (Ai!.Collect() is { } reply)
        {
            var status = Mode == AutopilotMode.AiAuto ? ProposalStatus.Applied : ProposalStatus.Suggested;
            foreach (var action in reply.Actions) made.Add(Propose(AiRule, reply.Reasoning, action, Confidences.High, status));
        }
        var step = _engine.History.Step;
        if (Ai.ShouldCall(step, alerts.Count > 0))
        {
            var dials = _control.Dials();
            var recent = Log.Read().TakeLast(RecalledDecisions).ToList();
            Ai.Start(step, AiPrompt.System(Ai.Settings), AiPrompt.User(_engine.History, alerts, recent, dials, Ai.Settings), dials);
        }
        return made;
    }

    /// <summary>
    /// For a rollback: the step of the point just before the rule's window (a divergence's or a spike's reference point;
    /// for other conditions the point before the newest) — the newest checkpoint at or before it was taken while the
    /// metric was healthy.
    /// </summary>
    private long? HealthyStep(Rule rule)
    {
        if (rule.Action.Kind != Actions.AutopilotAction.RestoreCheckpoint || rule.Metric is null) return null;
        var back = rule.When is Conditions.Divergence or Conditions.Spike ? rule.Window + 1 : 2;
        return _engine.History.StepBack(rule.Metric, back);
    }

    /// <summary>The rule name of the AI autopilot's proposals.</summary>
    public const string AiRule = "ai";

    /// <summary>What a rule's firing becomes in this mode: the AI modes hear of it, suggest asks, auto applies what it is sure of.</summary>
    private string StatusFor(Rule rule) => Mode switch
    {
        AutopilotMode.Auto when rule.Confidence is Confidences.High or Confidences.Medium => ProposalStatus.Applied,
        AutopilotMode.AiSuggest or AutopilotMode.AiAuto => ProposalStatus.Alert,
        _ => ProposalStatus.Suggested,
    };

    /// <summary>
    /// Accepts a waiting suggestion of the run in <paramref name="runDir"/>: its action is sent now (against the dials
    /// the run has now) and the log says who accepted it. Refused when there is no such suggestion or it was decided.
    /// </summary>
    public static Proposal Accept(string runDir, string id, string by, TimeProvider? time = null) =>
        Decide(runDir, id, by, accept: true, time);

    /// <summary>Rejects a waiting suggestion: nothing is sent, and the log says who rejected it.</summary>
    public static Proposal Reject(string runDir, string id, string by, TimeProvider? time = null) =>
        Decide(runDir, id, by, accept: false, time);

    private static Proposal Decide(string runDir, string id, string by, bool accept, TimeProvider? time)
    {
        var log = new AutopilotLog(runDir);
        var proposal = log.Read().FirstOrDefault(p => p.Id == id)
            ?? throw new ProtocolException($"{log.Path}: no proposal {id}");
        if (proposal.Status != ProposalStatus.Suggested)
            throw new ProtocolException($"proposal {id} ({proposal.Action}) is {proposal.Status}, not waiting for a decision");
        var clock = time ?? TimeProvider.System;
        var control = new RunControl(runDir, Sources.Autopilot, clock);
        var decided = accept
            ? Send(proposal, ProposalStatus.Accepted, $"accepted by {by}", control)
            : proposal with { Status = ProposalStatus.Rejected, Note = $"rejected by {by}" };
        log.Append(decided with { Ts = clock.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0 });
        return decided;
    }

    private Proposal Send(Proposal proposal, string status, string? note) => Send(proposal, status, note, _control);

    private static Proposal Send(Proposal proposal, string status, string? note, RunControl control)
    {
        IReadOnlyList<JsonObject> dials = control.Dials();
        var (command, skipped) = proposal.Action.ToCommand(dials, proposal.HealthyStep);
        if (command is null) return proposal with { Status = ProposalStatus.Skipped, Note = skipped };
        try
        {
            var sent = control.Send(command);
            return proposal with { Status = status, Cid = sent.Cid, Note = note };
        }
        catch (ProtocolException ex)
        {
            // A value the prompt can check (a bound) is refused before it reaches the inbox; the run goes on untouched.
            return proposal with { Status = ProposalStatus.Skipped, Note = ex.Message };
        }
    }

    private double Now() => _time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0;
}
