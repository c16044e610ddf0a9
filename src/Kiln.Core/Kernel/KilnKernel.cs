using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Modules;
using Kiln.Modules.Callbacks;
using Kiln.Modules.Loss;
using Kiln.Modules.Opt;
using Kiln.Protocol;
using Kiln.Replay;

namespace Kiln.Kernel;

/// <summary>
/// The live-control kernel. It lives in the training process: at each safe point the trainer calls
/// <see cref="Apply(long, string, KernelEnv?)"/>; the kernel reads new commands (at most every poll interval),
/// validates and applies them to the run's actuators, fires due replay entries, calls enabled callbacks, and
/// writes one ledger line per decision. Nothing else changes a run.
/// </summary>
/// <remarks>Not thread-safe: call it from the training loop's thread.</remarks>
public sealed class KilnKernel : IDisposable
{
    /// <summary>The event of ledger lines written before the first safe point (the run's baseline).</summary>
    public const string StartEvent = KernelEvents.Start;

    /// <summary>The event of ledger lines written when the run ends.</summary>
    public const string EndEvent = KernelEvents.End;

    private readonly KernelOptions _options;
    private readonly TimeProvider _time;
    private readonly OptModule _opt = new();
    private readonly LossModule _loss = new();
    private readonly CallbackModule _cb = new();
    private readonly List<(IKilnCallback Callback, bool Enabled)> _registrations = [];
    private readonly Dictionary<string, long> _sessionOffsets = new(StringComparer.Ordinal);
    private readonly List<JsonlLine> _lines = [];
    private readonly List<int> _fire = [];
    private readonly List<int> _missed = [];
    private readonly KernelEnv _defaultEnv = new();

    private Ledger? _ledger;
    private JsonlTail? _inbox;
    private FileLock? _kernelLock;
    private FreezeState _freeze = FreezeState.Unfrozen;
    private RecipePlayer? _player;
    private long _replayDueStep = long.MaxValue;
    private KilnConfig _config = KilnConfig.Empty;
    private byte[]? _configBytes;
    private bool _configWaiting;
    private FileStamp _configStamp;
    private FileStamp _freezeStamp;
    private long _pollTicks;
    private int _debounce;
    private bool _autoDisable;
    private long _nextPollAt;
    private int _callsSincePoll;
    private long? _lastStep;
    private bool _started;
    private bool _ended;
    private bool _actuatorsDirty;

    public KilnKernel(string runDir, KernelOptions? options = null) : this(new RunFiles(runDir), options)
    {
    }

    /// <summary>A kernel over run files whose configuration or inbox live elsewhere (the standalone controller).</summary>
    public KilnKernel(RunFiles files, KernelOptions? options = null)
    {
        _options = options ?? new KernelOptions();
        _time = _options.Time;
        Files = files;
        foreach (var loader in _options.CallbackLoaders) _cb.AddLoader(loader);
        _cb.OnHandleFailure = OnCallbackFailure;
        ApplySettings(KernelSettings.None);
    }

    public RunFiles Files { get; }

    public FreezeState Freeze => _freeze;

    /// <summary>Recipe entries not yet fired or missed; 0 when not replaying.</summary>
    public int ReplayRemaining => _player?.Remaining ?? 0;

    public bool IsCallbackEnabled(string id) => _cb.IsEnabled(id);

    public IKilnCallback? GetCallback(string id) => _cb.Get(id);

    public bool IsOptimizerEnabled(string id = OptModule.DefaultId) => _opt.IsEnabled(id);

    public bool IsLossEnabled(string id = LossModule.DefaultId) => _loss.IsEnabled(id);

    /// <summary>Exposes an optimizer to the <c>opt</c> module under <paramref name="id"/>.</summary>
    public void AddOptimizer(IOptimizerActuator actuator, string id = OptModule.DefaultId)
    {
        _opt.Register(id, actuator);
        _actuatorsDirty = true;
        if (_started) WriteActuators();
    }

    /// <summary>Exposes a composite loss to the <c>loss</c> module under <paramref name="id"/>.</summary>
    public void AddLoss(ILossActuator actuator, string id = LossModule.DefaultId)
    {
        _loss.Register(id, actuator);
        _actuatorsDirty = true;
        if (_started) WriteActuators();
    }

    /// <summary>Registers a callback created in code; it is ledgered (source <c>code</c>) when the kernel starts.</summary>
    public void AddCallback(IKilnCallback callback, bool enabled = true)
    {
        if (!_started)
        {
            _registrations.Add((callback, enabled));
            return;
        }
        var result = _cb.Register(callback, enabled, _defaultEnv);
        Record(new Command { Module = "cb", Op = "load", Id = callback.Id }, Sources.Code, null, _lastStep, StartEvent, null, result);
        WriteActuators();
    }

    /// <summary>
    /// Starts the kernel (the first <see cref="Apply(long, string, KernelEnv?)"/> does it too): takes the run's kernel lock,
    /// recovers the ledger, reads <c>kiln.freeze.json</c> and applies <c>kiln.yaml</c> and code-registered callbacks
    /// as the run's baseline.
    /// </summary>
    public void Start(KernelEnv? env = null)
    {
        if (_started) return;
        Directory.CreateDirectory(Files.Dir);
        if (!FileLock.TryAcquire(Files.KernelLockPath, out _kernelLock))
            throw new InvalidOperationException($"{Files.Dir}: another kernel is running in this run directory");
        _started = true;
        foreach (var loader in _options.CallbackLoaders) loader.Prepare();
        var e = env ?? _defaultEnv;
        _ledger = Ledger.Open(Files.LedgerPath, _time);
        foreach (var problem in _ledger.Problems) _options.Warn(problem);
        if (_ledger.DroppedTornBytes > 0)
        {
            Kernel("recover", null, StartEvent, e, OpResult.Applied(
                new JsonObject { ["dropped_bytes"] = _ledger.DroppedTornBytes },
                "dropped the unfinished last line of the ledger left by a killed kernel"));
        }
        _inbox = new JsonlTail(Files.CommandsPath, _options.MaxLineBytes);

        _freezeStamp = FileStamp.Of(Files.FreezePath);
        if (_freezeStamp.Exists) LoadFreezeFile(null, StartEvent, e);

        _configStamp = FileStamp.Of(Files.ConfigPath);
        if (_configStamp.Exists) ReloadConfig(null, StartEvent, e, baseline: true);

        foreach (var (callback, enabled) in _registrations)
        {
            var result = _cb.Register(callback, enabled, e);
            Record(new Command { Module = "cb", Op = "load", Id = callback.Id }, Sources.Code, null, null, StartEvent, e, result);
        }
        _registrations.Clear();
        WriteActuators();
        _nextPollAt = _time.GetTimestamp();
    }

    /// <summary>A safe point: <paramref name="step"/> is the trainer's step (0 included); <paramref name="evt"/> names the moment.</summary>
    public void Apply(long step, string evt, KernelEnv? env = null)
    {
        if (!_started) Start(env);
        else if (_ended) throw new InvalidOperationException("the kernel has ended; Apply after End is a bug in the training loop");
        var e = env ?? _defaultEnv;
        e.Step = step;
        e.Event = evt;
        e.RunDir = Files.Dir;
        if (++_callsSincePoll >= _debounce)
        {
            var now = _time.GetTimestamp();
            if (now >= _nextPollAt)
            {
                _callsSincePoll = 0;
                _nextPollAt = now + _pollTicks;
                Poll(step, evt, e);
            }
        }
        if (step >= _replayDueStep) Replay(step, evt, e);
        if (_cb.HasEnabled) _cb.Dispatch(evt, e, _autoDisable);
        if (_actuatorsDirty) WriteActuators();
        _lastStep = step;
    }

    /// <summary>A safe point at which several events happen; commands read here are tagged with the first.</summary>
    public void Apply(long step, ReadOnlySpan<string> events, KernelEnv? env = null)
    {
        if (events.Length == 0) throw new ArgumentException("at least one event", nameof(events));
        Apply(step, events[0], env);
        var e = env ?? _defaultEnv;
        for (var i = 1; i < events.Length; i++)
        {
            e.Event = events[i];
            if (step >= _replayDueStep) Replay(step, events[i], e);
            if (_cb.HasEnabled) _cb.Dispatch(events[i], e, _autoDisable);
        }
        if (_actuatorsDirty) WriteActuators();
    }

    /// <summary>
    /// Ends the run: recipe entries that never fired are ledgered as missed, callbacks are closed.
    /// Under the <c>strict</c> replay policy, missed entries then raise <see cref="ReplayMissedException"/>.
    /// </summary>
    public void End(long? step = null, KernelEnv? env = null)
    {
        if (!_started || _ended) return;
        _ended = true;
        var at = step ?? _lastStep;
        var e = env ?? _defaultEnv;
        string? strictError = null;
        try
        {
            if (_player is not null)
            {
                var rest = _player.DrainRemaining();
                foreach (var i in rest) RecordMissed(i, at, EndEvent, e, $"the run ended at step {Show(at)} before it was due");
                if (rest.Count > 0 && _player.Strict)
                    strictError = $"strict replay: {rest.Count} recipe entr{(rest.Count == 1 ? "y was" : "ies were")} never applied (first due at step {_player[rest[0]].Step + _player.StepOffset}, {_player[rest[0]].Event}); see {RunFiles.Ledger}";
                _replayDueStep = long.MaxValue;
            }
            _cb.CloseAll((id, ex) => Record(new Command { Module = "cb", Op = "close", Id = id }, Sources.Kernel, null, at, EndEvent, e, OpResult.Failed(ex)));
            WriteActuators();
        }
        finally
        {
            _kernelLock?.Dispose();
            _kernelLock = null;
        }
        if (strictError is not null) throw new ReplayMissedException(strictError);
    }

    /// <summary>
    /// Releases the run without ending it (an interrupted run): callbacks are closed, but recipe entries not yet
    /// due stay unfired rather than missed, so a resumed run replays them. Call <see cref="End"/> when training finished.
    /// </summary>
    public void Dispose()
    {
        if (_started && !_ended)
        {
            _ended = true;
            _cb.CloseAll((id, ex) => Record(new Command { Module = "cb", Op = "close", Id = id }, Sources.Kernel, null, _lastStep, EndEvent, null, OpResult.Failed(ex)));
            WriteActuators();
        }
        _kernelLock?.Dispose();
        _kernelLock = null;
    }

    // ---- polling ----

    private void Poll(long step, string evt, KernelEnv env)
    {
        var freeze = FileStamp.Of(Files.FreezePath);
        if (freeze != _freezeStamp)
        {
            _freezeStamp = freeze;
            LoadFreezeFile(step, evt, env);
        }
        var config = FileStamp.Of(Files.ConfigPath);
        if (config != _configStamp || _configWaiting && !_freeze.IsFrozen)
        {
            _configStamp = config;
            ReloadConfig(step, evt, env, baseline: false);
        }
        ReadInbox(step, evt, env);
    }

    private void ReadInbox(long step, string evt, KernelEnv env)
    {
        var inbox = _inbox!;
        while (inbox.Poll(_lines) > 0 || inbox.Restarted)
        {
            if (inbox.Restarted)
            {
                Kernel("inbox", step, evt, env, OpResult.Applied(notes: $"{RunFiles.Commands} shrank (truncated or replaced); reading it again from the start; commands already in the ledger are not applied again"));
            }
            foreach (var line in _lines) HandleInboxLine(line, step, evt, env);
            if (_lines.Count == 0) break;
        }
    }

    private void HandleInboxLine(JsonlLine line, long step, string evt, KernelEnv env)
    {
        var fallbackCid = $"inbox@{line.Offset}";
        var where = $"{RunFiles.Commands} line {line.Number}";
        if (line.Oversized)
        {
            if (!_ledger!.Contains(fallbackCid))
                RecordRejected(fallbackCid, null, null, null, $"{where}: line of {line.Length} bytes exceeds the limit of {_options.MaxLineBytes} bytes", step, evt, env);
            return;
        }
        JsonNode node;
        try
        {
            node = JsonValues.ParseDocument(line.Bytes.Span, where);
        }
        catch (ProtocolException ex)
        {
            if (!_ledger!.Contains(fallbackCid)) RecordRejected(fallbackCid, null, null, null, ex.Message, step, evt, env);
            return;
        }
        Command command;
        try
        {
            command = Command.FromJson(node);
        }
        catch (ProtocolException ex)
        {
            // Keep what can be read, so the writer can find its command in the ledger.
            var o = node as JsonObject;
            var cid = Text(o?["cid"]) ?? fallbackCid;
            if (!_ledger!.Contains(cid)) RecordRejected(cid, Text(o?["module"]), Text(o?["op"]), Text(o?["id"]), $"{where}: {ex.Message}", step, evt, env);
            return;
        }
        var id = command.Cid ?? fallbackCid;
        if (_ledger!.Contains(id))
        {
            // Seen before: either a restarted kernel re-reading its inbox, or a writer that reused a cid.
            if (_sessionOffsets.TryGetValue(id, out var first) && first != line.Offset)
                RecordRejected(id + "#" + line.Offset, command.Module, command.Op, command.Id, $"{where}: duplicate cid {id} (first at byte {first}); not applied again", step, evt, env);
            return;
        }
        _sessionOffsets[id] = line.Offset;
        Execute(command, command.Source ?? Sources.External, id, step, evt, env, gated: true);
    }

    private static string? Text(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.String ? v.GetValue<string>() : null;

    // ---- executing commands ----

    private void Execute(Command command, string source, string? cid, long? step, string evt, KernelEnv env, bool gated)
    {
        OpResult result;
        if (gated && command.Module != "core" && _freeze.IsFrozen)
        {
            result = new OpResult(_freeze.IsReplay ? Decision.IgnoredReplay : Decision.IgnoredFreeze,
                Notes: $"the run is frozen (mode {_freeze.Mode}); `kiln freeze --mode off` lifts it");
        }
        else
        {
            result = Route(command, step, evt, env);
        }
        Record(command, source, cid, step, evt, env, result);
        if (result.Decision == Decision.Applied) _actuatorsDirty = true;
        if (command.Module == "core" && command.Op == "freeze" && result.Decision == Decision.Rejected && StrictReplayRequested(command.Params))
            throw new ReplayMissedException($"strict replay could not start: {result.Error}");
    }

    private OpResult Route(Command command, long? step, string evt, KernelEnv env)
    {
        var context = new OpContext(step, evt, env, _autoDisable, Files);
        try
        {
            return command.Module switch
            {
                "core" => ApplyCore(command, step, evt, env),
                "cb" => _cb.Apply(command, context),
                "opt" => _opt.Apply(command, context),
                "loss" => _loss.Apply(command, context),
                _ => OpResult.Rejected($"module: {command.Module} is not available in this run"),
            };
        }
        catch (Exception ex) when (ex is not ReplayMissedException)
        {
            return OpResult.Failed(ex);
        }
    }

    private OpResult ApplyCore(Command command, long? step, string evt, KernelEnv env)
    {
        switch (command.Op)
        {
            case "freeze":
                FreezeState state;
                try { state = FreezeState.FromJson(command.Params ?? []); }
                catch (ProtocolException ex) { return OpResult.Rejected("params." + ex.Message); }
                return SetFreeze(state, writeFile: true, step, evt, env);
            case "unfreeze":
                return SetFreeze(FreezeState.Unfrozen, writeFile: true, step, evt, env);
            default:
                return OpResult.Rejected($"op: unknown op \"{command.Op}\" for module core (known: freeze, unfreeze)");
        }
    }

    private static bool StrictReplayRequested(JsonObject? p) =>
        p?["policy"] is JsonValue v && v.ToString() == FreezeState.Strict
        && p["mode"] is JsonValue m && m.ToString() is FreezeState.Replay or FreezeState.ReplayAdjusted;

    // ---- freeze and replay ----

    private void LoadFreezeFile(long? step, string evt, KernelEnv env)
    {
        FreezeState state;
        try
        {
            state = File.Exists(Files.FreezePath)
                ? FreezeState.FromJson(JsonValues.ParseDocument(File.ReadAllBytes(Files.FreezePath), "content"))
                : FreezeState.Unfrozen;
        }
        catch (Exception ex) when (ex is ProtocolException or IOException)
        {
            var message = ex is ProtocolException ? $"{RunFiles.Freeze}: {ex.Message}" : $"{RunFiles.Freeze}: {ex.Message}";
            Kernel("freeze", step, evt, env, OpResult.Rejected(message + $"; the freeze mode stays {_freeze.Mode}"), Sources.FreezeFile);
            return;
        }
        if (state == _freeze) return;
        var result = SetFreeze(state, writeFile: false, step, evt, env);
        Kernel(state.IsFrozen ? "freeze" : "unfreeze", step, evt, env, result, Sources.FreezeFile);
        if (result.Decision == Decision.Rejected && state.IsReplay && state.Policy == FreezeState.Strict)
            throw new ReplayMissedException($"strict replay could not start: {result.Error}");
    }

    private OpResult SetFreeze(FreezeState next, bool writeFile, long? step, string evt, KernelEnv env)
    {
        RecipePlayer? player = null;
        var notes = new List<string>();
        if (next.IsReplay)
        {
            try { player = BuildPlayer(next, notes); }
            catch (ProtocolException ex) { return OpResult.Rejected(ex.Message); }
            catch (IOException ex) { return OpResult.Rejected(ex.Message); }
        }
        if (writeFile)
        {
            if (next.IsFrozen) AtomicFile.WriteJson(Files.FreezePath, next.ToJson());
            else File.Delete(Files.FreezePath);
            _freezeStamp = FileStamp.Of(Files.FreezePath);
        }
        if (_player is { Remaining: > 0 } old)
            notes.Add($"the previous replay stopped with {old.Remaining} entries not fired");
        var wasFrozen = _freeze.IsFrozen;
        _freeze = next;
        _player = player;
        _replayDueStep = player?.NextDueStep ?? long.MaxValue;
        if (wasFrozen && !next.IsFrozen && _configWaiting) notes.Add($"{RunFiles.Config} changed while frozen; it is applied now");
        var payload = next.ToJson();
        if (player is not null) payload["recipe_entries"] = player.Count;
        return OpResult.Applied(payload, notes.Count > 0 ? string.Join("; ", notes) : null);
    }

    private RecipePlayer BuildPlayer(FreezeState state, List<string> notes)
    {
        var recipePath = Files.Resolve(state.RecipePath!);
        var entries = RecipeFile.Read(recipePath);
        if (state.Mode == FreezeState.ReplayAdjusted)
        {
            var spec = AdjustOverlay.Load(Files.Resolve(state.AdjustPath!));
            entries = AdjustOverlay.Apply(entries, spec, notes);
            RecipeFile.Write(Files.EffectiveRecipePath, entries);
        }
        var player = new RecipePlayer(entries, state.StepOffset, state.Policy);
        for (var i = 0; i < player.Count; i++)
        {
            if (_ledger!.Contains(player.CidOf(i))) player.MarkDone(i);
        }
        return player;
    }

    private void Replay(long step, string evt, KernelEnv env)
    {
        var player = _player!;
        _fire.Clear();
        _missed.Clear();
        player.Collect(step, evt, _fire, _missed);
        _replayDueStep = player.NextDueStep;
        foreach (var i in _missed)
        {
            var entry = player[i];
            RecordMissed(i, step, evt, env, $"its moment passed: now step {step} ({evt})");
            if (player.Strict)
            {
                throw new ReplayMissedException(
                    $"strict replay: recipe entry {entry.Module} {entry.Op} {entry.Id} due at step {entry.Step + player.StepOffset} ({entry.Event}) was missed at step {step} ({evt}); see {RunFiles.Ledger}");
            }
        }
        foreach (var i in _fire) Execute(player[i].ToCommand(player.CidOf(i)), Sources.Replay, player.CidOf(i), step, evt, env, gated: false);
    }

    private void RecordMissed(int index, long? step, string evt, KernelEnv env, string why)
    {
        var player = _player!;
        var entry = player[index];
        var result = new OpResult(Decision.Missed,
            Error: $"missed_step:{entry.Step + player.StepOffset}:{entry.Event}: {why}",
            Notes: player.Strict ? "strict policy: the run fails" : "best_effort policy: the run goes on");
        Record(entry.ToCommand(player.CidOf(index)), Sources.Replay, player.CidOf(index), step, evt, env, result);
    }

    // ---- kiln.yaml ----

    private void ReloadConfig(long? step, string evt, KernelEnv env, bool baseline)
    {
        byte[]? bytes = null;
        try { bytes = File.Exists(Files.ConfigPath) ? File.ReadAllBytes(Files.ConfigPath) : null; }
        catch (IOException ex)
        {
            Kernel("config", step, evt, env, OpResult.Rejected($"{RunFiles.Config}: {ex.Message}"), Sources.Yaml);
            return;
        }
        if (!baseline && !_configWaiting && bytes.AsSpan().SequenceEqual(_configBytes)) return;
        if (!baseline && _freeze.IsFrozen)
        {
            if (!_configWaiting || !bytes.AsSpan().SequenceEqual(_configBytes))
            {
                Kernel("config", step, evt, env, new OpResult(_freeze.IsReplay ? Decision.IgnoredReplay : Decision.IgnoredFreeze,
                    Notes: $"{RunFiles.Config} changed while the run is frozen (mode {_freeze.Mode}); it is applied when the run is unfrozen"), Sources.Yaml);
            }
            _configBytes = bytes;
            _configWaiting = true;
            return;
        }
        _configBytes = bytes;
        _configWaiting = false;
        KilnConfig next;
        try
        {
            next = bytes is null ? KilnConfig.Empty : KilnConfig.FromJson(YamlJson.Parse(System.Text.Encoding.UTF8.GetString(bytes)));
        }
        catch (ProtocolException ex)
        {
            Kernel("config", step, evt, env, OpResult.Rejected($"{RunFiles.Config}: {ex.Message}; the previous settings stay"), Sources.Yaml);
            return;
        }
        var previous = _config;
        _config = next;
        ApplyConfig(previous, next, step, evt, env);
    }

    private void ApplyConfig(KilnConfig previous, KilnConfig next, long? step, string evt, KernelEnv env)
    {
        if (next.Kernel != previous.Kernel)
        {
            ApplySettings(next.Kernel);
            Kernel("config", step, evt, env, OpResult.Applied(new JsonObject
            {
                ["kernel"] = new JsonObject
                {
                    ["poll_interval_ms"] = next.Kernel.PollIntervalMs,
                    ["debounce_steps"] = next.Kernel.DebounceSteps,
                    ["auto_disable_on_error"] = next.Kernel.AutoDisableOnError,
                },
            }), Sources.Yaml);
        }
        ApplyBounds("opt", previous.Opt, next.Opt, b => _opt.SetBounds(b), step, evt, env);
        ApplyBounds("loss", previous.Loss, next.Loss, b => _loss.SetBounds(b), step, evt, env);
        ApplyModuleSpec("opt", previous.Opt, next.Opt, step, evt, env);
        ApplyModuleSpec("loss", previous.Loss, next.Loss, step, evt, env);
        ApplyCallbackSpecs(previous.Callbacks, next.Callbacks, step, evt, env);
    }

    private void ApplySettings(KernelSettings s)
    {
        var poll = s.PollIntervalMs is { } ms ? TimeSpan.FromMilliseconds(ms) : _options.PollInterval;
        _pollTicks = (long)(poll.TotalSeconds * _time.TimestampFrequency);
        _debounce = s.DebounceSteps ?? Math.Max(1, _options.DebounceSteps);
        _autoDisable = s.AutoDisableOnError ?? _options.AutoDisableOnError;
    }

    private void ApplyBounds(string module, ModuleSpec previous, ModuleSpec next, Action<IReadOnlyDictionary<string, Bounds>> set, long? step, string evt, KernelEnv env)
    {
        if (SameBounds(previous.Bounds, next.Bounds)) return;
        OpResult result;
        try
        {
            set(next.Bounds);
            var payload = new JsonObject();
            foreach (var (k, b) in next.Bounds) payload[k] = b.ToJson();
            result = OpResult.Applied(new JsonObject { [module + ".bounds"] = payload });
        }
        catch (ProtocolException ex)
        {
            result = OpResult.Rejected($"{RunFiles.Config}: {ex.Message}");
        }
        Kernel("config", step, evt, env, result, Sources.Yaml);
    }

    private static bool SameBounds(IReadOnlyDictionary<string, Bounds> a, IReadOnlyDictionary<string, Bounds> b) =>
        a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out var v) && v == kv.Value);

    private void ApplyModuleSpec(string module, ModuleSpec previous, ModuleSpec next, long? step, string evt, KernelEnv env)
    {
        var sameId = previous.Id == next.Id;
        if (next.Enabled != (sameId ? previous.Enabled : true))
            Execute(new Command { Module = module, Op = next.Enabled ? "enable" : "disable", Id = next.Id }, Sources.Yaml, null, step, evt, env, gated: false);
        var changed = new JsonObject();
        foreach (var (k, v) in next.Params)
        {
            if (sameId && previous.Params.TryGetPropertyValue(k, out var old) && JsonNode.DeepEquals(old, v)) continue;
            changed[k] = v?.DeepClone();
        }
        if (changed.Count > 0)
            Execute(new Command { Module = module, Op = "set_params", Id = next.Id, Params = changed }, Sources.Yaml, null, step, evt, env, gated: false);
    }

    private void ApplyCallbackSpecs(IReadOnlyList<(string Id, CallbackSpec Spec)> previous, IReadOnlyList<(string Id, CallbackSpec Spec)> next, long? step, string evt, KernelEnv env)
    {
        var before = previous.ToDictionary(p => p.Id, p => p.Spec, StringComparer.Ordinal);
        var after = next.ToDictionary(p => p.Id, p => p.Spec, StringComparer.Ordinal);
        foreach (var (id, _) in previous)
        {
            if (!after.ContainsKey(id))
                Execute(new Command { Module = "cb", Op = "unload", Id = id }, Sources.Yaml, null, step, evt, env, gated: false);
        }
        foreach (var (id, spec) in next)
        {
            before.TryGetValue(id, out var old);
            var reload = old is null || old.Target != spec.Target || !JsonNode.DeepEquals(old.Init, spec.Init);
            if (reload)
            {
                Execute(new Command { Module = "cb", Op = "load", Id = id, Target = spec.Target, Init = spec.Init, Enabled = spec.Enabled }, Sources.Yaml, null, step, evt, env, gated: false);
            }
            else if (old!.Enabled != spec.Enabled)
            {
                Execute(new Command { Module = "cb", Op = spec.Enabled ? "enable" : "disable", Id = id }, Sources.Yaml, null, step, evt, env, gated: false);
            }
            var changed = new JsonObject();
            if (spec.Params is not null)
            {
                foreach (var (k, v) in spec.Params)
                {
                    if (!reload && old!.Params is not null && old.Params.TryGetPropertyValue(k, out var was) && JsonNode.DeepEquals(was, v)) continue;
                    changed[k] = v?.DeepClone();
                }
            }
            if (changed.Count > 0 && _cb.Get(id) is not null)
                Execute(new Command { Module = "cb", Op = "set_params", Id = id, Params = changed }, Sources.Yaml, null, step, evt, env, gated: false);
        }
    }

    // ---- callbacks ----

    private void OnCallbackFailure(string id, KernelEnv env, Exception ex, bool disabled)
    {
        var notes = disabled
            ? $"cb:{id} disabled (auto_disable_on_error); `kiln cb enable {id}` turns it back on"
            : "auto_disable_on_error is off: the callback stays enabled";
        var inner = OpResult.Unwrap(ex);
        var result = new OpResult(Decision.Failed, Error: $"handle({env.Event}) threw {inner.GetType().Name}: {inner.Message}", Notes: notes, Traceback: inner.ToString());
        Record(new Command { Module = "cb", Op = "handle", Id = id }, Sources.Kernel, null, env.Step, env.Event, env, result);
        _actuatorsDirty = true;
    }

    // ---- ledger and actuators ----

    private void Kernel(string op, long? step, string evt, KernelEnv? env, OpResult result, string source = Sources.Kernel) =>
        Record(new Command { Module = "core", Op = op }, source, null, step, evt, env, result);

    private void RecordRejected(string cid, string? module, string? op, string? id, string error, long step, string evt, KernelEnv env) =>
        _ledger!.Append(new LedgerEntry
        {
            Cid = cid, Step = step, Epoch = env.Epoch, Event = evt, Phase = env.Phase,
            Module = module, Op = op, Id = id, Source = Sources.External, Decision = Decision.Rejected, Error = error,
        });

    private void Record(Command command, string source, string? cid, long? step, string evt, KernelEnv? env, OpResult result)
    {
        var parameters = command.Params;
        if (command.Op == "load" && command.Target is not null)
        {
            parameters = new JsonObject { ["target"] = command.Target.ToJson(), ["init"] = command.Init?.DeepClone(), ["enabled"] = command.Enabled };
        }
        _ledger!.Append(new LedgerEntry
        {
            Cid = cid,
            Step = step,
            Epoch = env?.Epoch,
            Event = evt,
            Phase = env?.Phase,
            Module = command.Module,
            Op = command.Op,
            Id = command.Id,
            Source = source,
            Decision = result.Decision,
            Params = parameters?.DeepClone() as JsonObject,
            Payload = result.Payload,
            Error = result.Error,
            Notes = result.Notes,
            Traceback = result.Traceback,
        });
    }

    private void WriteActuators()
    {
        _actuatorsDirty = false;
        var step = _lastStep ?? 0;
        var dials = new List<ActuatorState>();
        _opt.Describe(dials, step);
        _loss.Describe(dials, step);
        _cb.Describe(dials, step);
        var list = new JsonArray();
        foreach (var d in dials) list.Add(d.ToJson());
        var doc = new JsonObject
        {
            ["step"] = _lastStep,
            ["wall_time"] = _time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0,
            ["freeze"] = _freeze.ToJson(),
            ["actuators"] = list,
        };
        try
        {
            AtomicFile.WriteJson(Files.ActuatorsPath, doc, durable: false);
        }
        catch (IOException ex)
        {
            _options.Warn($"{RunFiles.Actuators}: {ex.Message}");
        }
    }

    private static string Show(long? step) => step?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "(none)";
}
