using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Modules.Tune;

/// <summary>
/// The <c>tune</c> module: online tuning by trial segments. At each decision point (an evaluation, <c>val_epoch_end</c>)
/// it judges the segment that ends — kept when the objective improved by more than the settings ask, otherwise
/// the weights, the optimizer (moments and dials) and the loss dials roll back to the snapshot taken before the mutation
/// — then, in <c>active</c> mode, snapshots the run's state in memory (<see cref="IRunState"/>) and mutates one dial
/// (a factor on <c>lr</c>, <c>weight_decay</c> or a loss weight) chosen by <see cref="TuneSearch"/>, which learns from the scores.
/// </summary>
/// <remarks>
/// Every mutation is two ledger lines (source <c>tune</c>): <c>tune mutate</c> (the snapshot) and the <c>opt</c>/<c>loss</c>
/// <c>set_params</c> that makes the change; every verdict is a <c>tune verdict</c> line, which restores the snapshot when
/// it says <c>rolled_back</c>. A recipe holds all three, so a replayed run takes the same snapshots and rolls back at the
/// same steps: it is the tuned run, bit for bit. While the run is frozen (or replaying) tune proposes nothing.
/// Modes: <c>off</c>, <c>observe</c> (judges the segment under way, starts none), <c>suggest</c> (ledgers what it would
/// try, changes nothing), <c>active</c>, <c>replay</c> (only what the recipe says). State: <c>kiln.tune.json</c>.
/// </remarks>
public sealed class TuneModule : IKernelModule
{
    public const string ModuleName = "tune";
    public const string Accepted = "accepted";
    public const string RolledBack = "rolled_back";

    private IModuleHost? _host;
    private TuneSettings _settings = new();
    private TuneSearch _search = new(0);
    private bool _listening;
    private bool _used;

    private Segment? _segment;
    private long _segments;
    private long _accepted;
    private long _rolledBack;
    private long _suggested;
    private int _evaluations;
    private long? _lastEvaluationStep;
    private long _interval;
    private int _rejectStreak;
    private int _pausedFor;
    private double _current = double.NaN;
    private double _reference;
    private bool _segmentSinceLast;
    private bool _warnedMissing;
    private readonly Dictionary<string, int> _cooldowns = new(StringComparer.Ordinal);
    private readonly List<JsonObject> _recent = [];

    private sealed record Segment(long Id, string Key, string Module, double Factor, double Pre, long Step, int StartEvaluation, object Snapshot, JsonObject From);

    public string Name => ModuleName;

    public TuneSettings Settings => _settings;

    public void Attach(IModuleHost host) => _host = host;

    public OpResult Apply(Command command, OpContext context)
    {
        var host = _host ?? throw new InvalidOperationException("tune is not attached to a kernel");
        var p = command.Params ?? [];
        OpResult result;
        switch (command.Op)
        {
            case "enable":
                var mode = p["mode"] is { } m ? JsonValues.GetString(m, "mode") : TuneSettings.Active;
                JsonValues.RejectUnknownKeys(p, ["mode"], "");
                result = Configure(new JsonObject { ["mode"] = mode });
                break;
            case "disable":
                result = _settings.Mode == TuneSettings.Off ? OpResult.Noop("tune is already off") : Configure(new JsonObject { ["mode"] = TuneSettings.Off });
                break;
            case "set_params":
                if (p.Count == 0) return OpResult.Rejected("params: nothing to set");
                result = Configure(p);
                break;
            case "mutate":
                result = Mutate(host, p, context.StepOrZero);
                break;
            case "verdict":
                result = Verdict(host, p);
                break;
            case "suggest":
                result = OpResult.Noop($"suggested {Show(p)}; nothing changed (mode suggest)");
                break;
            default:
                return OpResult.Rejected($"op: unknown op \"{command.Op}\" for module tune (known: enable, disable, set_params, mutate, verdict, suggest)");
        }
        _used |= result.Decision == Decision.Applied;
        WriteState(context.StepOrZero);
        return result;
    }

    private OpResult Configure(JsonObject p)
    {
        var seed = _settings.Seed;
        JsonObject applied;
        try { applied = _settings.Set(p); }
        catch (ProtocolException ex) { return OpResult.Rejected(ex.Message); }
        if (_settings.Seed != seed || _search.Told == 0) _search = new TuneSearch(_settings.Seed);
        Listen(_settings.Mode is TuneSettings.Observe or TuneSettings.Suggest or TuneSettings.Active || _segment is not null);
        return OpResult.Applied(applied);
    }

    private void Listen(bool listening)
    {
        if (_listening == listening) return;
        _listening = listening;
        _host!.Listen(this, listening);
    }

    /// <summary>Takes the snapshot a mutation starts from; the change itself is the <c>opt</c>/<c>loss</c> line after it.</summary>
    private OpResult Mutate(IModuleHost host, JsonObject p, long step)
    {
        if (host.RunState is not { } state) return OpResult.Rejected("this run registered no state to roll back to (IRunState), so tune cannot mutate it");
        if (_segment is not null) return OpResult.Rejected($"segment {_segment.Id} is still under way; a verdict ends it first");
        JsonValues.RejectUnknownKeys(p, ["segment", "key", "module", "factor", "from", "to", "pre", "metric"], "");
        var id = JsonValues.GetLong(p["segment"], "segment");
        var key = JsonValues.GetString(p["key"], "key");
        var module = JsonValues.GetString(p["module"], "module");
        var factor = JsonValues.GetDouble(p["factor"], "factor");
        var pre = p["pre"] is { } pv ? JsonValues.GetDouble(pv, "pre") : double.NaN;
        var from = p["from"] as JsonObject ?? [];
        // A segment made again by a resume (before this safe point's own call) is judged from the next evaluation on, as it was.
        _segment = new Segment(id, key, module, factor, pre, step, _evaluations, state.Capture(), (JsonObject)from.DeepClone());
        _segments = Math.Max(_segments, id);
        _segmentSinceLast = true;
        Listen(true);
        return OpResult.Applied((JsonObject)p.DeepClone());
    }

    /// <summary>Ends the segment under way: kept, or everything back to its snapshot.</summary>
    private OpResult Verdict(IModuleHost host, JsonObject p)
    {
        JsonValues.RejectUnknownKeys(p, ["segment", "decision", "pre", "post", "improvement", "baseline", "score", "reason", "restored"], "");
        var id = JsonValues.GetLong(p["segment"], "segment");
        var decision = JsonValues.GetString(p["decision"], "decision");
        if (decision is not (Accepted or RolledBack)) return OpResult.Rejected($"decision: expected {Accepted} or {RolledBack}, got {decision}");
        if (_segment is not { } seg || seg.Id != id) return OpResult.Rejected($"segment: {id} is not under way ({(_segment is null ? "none is" : $"segment {_segment.Id} is")})");
        if (decision == RolledBack)
        {
            if (host.RunState is not { } state) return OpResult.Rejected("this run registered no state to roll back to (IRunState)");
            state.Restore(seg.Snapshot);
            _rolledBack++;
        }
        else
        {
            _accepted++;
        }
        _segment = null;
        _recent.Add((JsonObject)p.DeepClone());
        if (_recent.Count > 20) _recent.RemoveAt(0);
        Listen(_settings.Mode is TuneSettings.Observe or TuneSettings.Suggest or TuneSettings.Active);
        return OpResult.Applied((JsonObject)p.DeepClone());
    }

    public void OnSafePoint(string evt, KernelEnv env)
    {
        if (evt != "val_epoch_end" || _host is not { } host) return;
        _evaluations++;
        if (_lastEvaluationStep is { } last && env.Step > last) _interval = env.Step - last;
        _lastEvaluationStep = env.Step;
        if (!env.Metrics.TryGetValue(_settings.Metric, out var metric))
        {
            if (!_warnedMissing)
            {
                _warnedMissing = true;
                host.Report(new Command { Module = Name, Op = "safe_point" }, OpResult.Noop(
                    $"objective.metric {_settings.Metric} is not reported at val_epoch_end (metrics: {string.Join(", ", env.Metrics.Keys.Order(StringComparer.Ordinal))}); `kiln tune set objective.metric=…`"), env.Step, evt, env);
            }
            return;
        }
        var replaying = host.Freeze.IsReplay || _settings.Mode == TuneSettings.Replay;
        if (_segment is { } seg && !replaying)
        {
            if (seg.Step == env.Step)
            {
                _segment = seg with { StartEvaluation = _evaluations };
                return;
            }
            if (_evaluations - seg.StartEvaluation < _settings.Segment) return;
            Judge(host, seg, metric, env);
        }
        else if (!_segmentSinceLast && double.IsFinite(_current) && double.IsFinite(metric))
        {
            // An interval without a mutation: its progress is what the next mutation must beat.
            _reference = Improvement(_current, metric);
        }
        if (!_segmentSinceLast) _current = metric;
        _segmentSinceLast = false;
        if (replaying || host.Freeze.IsFrozen || _segment is not null) return;
        if (_settings.Mode is not (TuneSettings.Active or TuneSettings.Suggest)) return;
        // A segment must be judged before the last evaluation, so the run's final figures are those of its final weights.
        if (env.MaxSteps is { } max && (env.Step + 1 >= _settings.Until * max || env.Step + (_settings.Segment + 1) * _interval >= max)) return;
        foreach (var k in _cooldowns.Keys.ToList()) if (_cooldowns[k] > 0) _cooldowns[k]--;
        if (_pausedFor > 0)
        {
            _pausedFor--;
            return;
        }
        // After a rollback the weights are the snapshot's, whose objective was the segment's pre.
        if (!double.IsFinite(_current) || env.Loss is { } loss && !double.IsFinite(loss)) return;
        Propose(host, _current, env);
    }

    private void Judge(IModuleHost host, Segment seg, double post, KernelEnv env)
    {
        // Kept when the segment made the progress asked for; scored (for the search) against the progress before it.
        var improvement = Improvement(seg.Pre, post);
        var baseline = _settings.Trend * Math.Max(0, _reference);
        var score = improvement - _reference;
        var healthy = double.IsFinite(post) && (env.Loss is not { } loss || double.IsFinite(loss));
        var keep = healthy && double.IsFinite(improvement) && improvement > baseline + _settings.Epsilon;
        var reason = !healthy ? "the loss or the objective is not finite"
            : keep ? $"{_settings.Metric} improved by {Fmt(improvement)}, more than {Fmt(baseline + _settings.Epsilon)}"
            : $"{_settings.Metric} improved by {Fmt(improvement)}, not more than {Fmt(baseline + _settings.Epsilon)}";
        var verdict = new JsonObject
        {
            ["segment"] = seg.Id, ["decision"] = keep ? Accepted : RolledBack, ["pre"] = Num(seg.Pre), ["post"] = Num(post),
            ["improvement"] = Num(improvement), ["baseline"] = Num(baseline), ["score"] = Num(score), ["reason"] = reason,
        };
        if (!keep) verdict["restored"] = seg.From.DeepClone();
        var result = host.Execute(new Command { Module = Name, Op = "verdict", Params = verdict }, Sources.Tune, env.Step, env.Event, env);
        _search.Tell(seg.Key, seg.Factor, healthy ? score : double.NaN, keep);
        if (result.Decision != Decision.Applied) return;
        if (keep)
        {
            _reference = improvement;
            _rejectStreak = 0;
            _current = post;
        }
        else
        {
            _current = seg.Pre;
            if (++_rejectStreak >= _settings.MaxRejectStreak)
            {
                _rejectStreak = 0;
                _pausedFor = _settings.Pause;
            }
        }
    }

    private void Propose(IModuleHost host, double metric, KernelEnv env)
    {
        var dials = host.Dials(env.Step);
        var eligible = new List<(string Key, double Low, double High)>();
        foreach (var (key, spec) in _settings.Keys)
        {
            if (!spec.Enabled || _cooldowns.GetValueOrDefault(key) > 0) continue;
            if (Targets(dials, spec.Module, key).Any(d => d.Value > 0)) eligible.Add((key, spec.Low, spec.High));
        }
        if (eligible.Count == 0) return;
        var proposal = _search.Propose(eligible, _settings.Startup);
        var spec2 = _settings.Keys[proposal.Key];
        var targets = Targets(dials, spec2.Module, proposal.Key).ToList();
        var from = new JsonObject();
        var change = new JsonObject();
        var groups = new JsonObject();
        foreach (var (group, value, min, max) in targets)
        {
            var to = Math.Clamp(value * proposal.Factor, min ?? 0, max ?? double.MaxValue);
            from[group ?? proposal.Key] = value;
            if (group is null || targets.Count == 1) change[proposal.Key] = to;
            else groups[group] = new JsonObject { [proposal.Key] = to };
        }
        if (groups.Count > 0) change["groups"] = groups;
        var mutation = new JsonObject
        {
            ["segment"] = _segments + 1, ["key"] = proposal.Key, ["module"] = spec2.Module, ["factor"] = proposal.Factor,
            ["from"] = from, ["to"] = change.DeepClone(), ["pre"] = Num(metric), ["metric"] = _settings.Metric,
        };
        if (_settings.Mode == TuneSettings.Suggest)
        {
            _suggested++;
            host.Execute(new Command { Module = Name, Op = "suggest", Params = mutation }, Sources.Tune, env.Step, env.Event, env);
            return;
        }
        var started = host.Execute(new Command { Module = Name, Op = "mutate", Params = mutation }, Sources.Tune, env.Step, env.Event, env);
        if (started.Decision != Decision.Applied) return;
        if (spec2.Cooldown > 0) _cooldowns[proposal.Key] = spec2.Cooldown + 1;
        var applied = host.Execute(new Command { Module = spec2.Module, Op = "set_params", Params = change }, Sources.Tune, env.Step, env.Event, env);
        if (applied.Decision == Decision.Applied) return;
        // The change did not take: end the segment at once, back where it started.
        host.Execute(new Command
        {
            Module = Name, Op = "verdict", Params = new JsonObject
            {
                ["segment"] = _segment!.Id, ["decision"] = RolledBack, ["reason"] = $"{spec2.Module} did not apply the change: {applied.Error ?? applied.Notes ?? applied.Decision}",
            },
        }, Sources.Tune, env.Step, env.Event, env);
        _current = metric;
    }

    /// <summary>The dial <paramref name="key"/> of <paramref name="module"/>'s main handle, per group for the optimizer.</summary>
    private static IEnumerable<(string? Group, double Value, double? Min, double? Max)> Targets(IReadOnlyList<ActuatorState> dials, string module, string key)
    {
        foreach (var d in dials)
        {
            if (d.Module != module || d.Id != HandleModule<object>.DefaultId || d.Key != key || !d.Enabled) continue;
            if (JsonValues.TryGetDouble(d.Value, out var v) && double.IsFinite(v)) yield return (d.Group, v, d.Min, d.Max);
        }
    }

    private double Improvement(double pre, double post) => _settings.Maximize ? post - pre : pre - post;

    public void Close(long? step, KernelEnv? env) => WriteState(step ?? 0);

    /// <summary>Writes <c>kiln.tune.json</c>: the settings, the counts, the segment under way and the last verdicts.</summary>
    private void WriteState(long step)
    {
        if (_host is null || !_used) return;
        var judged = _accepted + _rolledBack;
        var state = new JsonObject
        {
            ["step"] = step,
            ["settings"] = _settings.ToJson(),
            ["mutations"] = _segments,
            ["accepted"] = _accepted,
            ["rolled_back"] = _rolledBack,
            ["suggested"] = _suggested,
            ["accept_rate"] = judged == 0 ? null : (double)_accepted / judged,
            ["reject_streak"] = _rejectStreak,
            ["paused_for"] = _pausedFor,
            ["segment"] = _segment is { } s ? new JsonObject { ["id"] = s.Id, ["key"] = s.Key, ["factor"] = s.Factor, ["pre"] = Num(s.Pre), ["from"] = s.From.DeepClone() } : null,
            ["recent"] = new JsonArray([.. _recent.Select(r => (JsonNode)r.DeepClone())]),
        };
        try
        {
            AtomicFile.WriteJson(_host.Files.TunePath, state, durable: false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _host.Report(new Command { Module = Name, Op = "state" }, OpResult.Failed(ex, notes: $"{RunFiles.TuneState} could not be written; the ledger has every decision"), step, "tune_state", null);
        }
    }

    private static JsonNode? Num(double d) => double.IsFinite(d) ? JsonValue.Create(d) : null;

    private static string Fmt(double d) => d.ToString("G4", System.Globalization.CultureInfo.InvariantCulture);

    private static string Show(JsonObject p) =>
        $"{p["key"]} ×{(JsonValues.TryGetDouble(p["factor"], out var f) ? Fmt(f) : "?")} ({JsonValues.Show(p["from"])} → {JsonValues.Show(p["to"])})";
}
