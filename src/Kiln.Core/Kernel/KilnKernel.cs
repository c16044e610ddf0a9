using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Modules;
using Kiln.Modules.Callbacks;
using Kiln.Modules.Loss;
using Kiln.Modules.Opt;
using Kiln.Protocol;

namespace Kiln.Kernel;

/// <summary>
/// The live-control kernel. It lives in the training process: at each safe point the trainer calls
/// <see cref="Apply(long, string, KernelEnv?)"/>; the kernel reads new commands (at most every poll interval),
/// validates and applies them through its modules, fires due replay entries, lets listening modules (callbacks) run,
/// and writes one ledger line per decision. Nothing else changes a run.
/// </summary>
/// <remarks>
/// Not thread-safe: call it from the training loop's thread. Callbacks' code runs on a thread of the kernel's while the
/// training thread waits for it, within a time budget (<see cref="KernelOptions.CallbackTimeBudget"/>).
/// </remarks>
public sealed class KilnKernel : IDisposable
{
    /// <summary>The event of ledger lines written before the first safe point (the run's baseline).</summary>
    public const string StartEvent = KernelEvents.Start;

    /// <summary>The event of ledger lines written when the run ends.</summary>
    public const string EndEvent = KernelEvents.End;

    private readonly KernelOptions _options;
    private readonly TimeProvider _time;
    private readonly ModuleTable _modules = new();
    private readonly OptModule _opt = new();
    private ResumeCatchUp? _catchUp;
    private readonly LossModule _loss = new();
    private readonly CallbackModule _cb;
    private readonly LedgerRecorder _ledger;
    private readonly Dispatcher _dispatch;
    private readonly FreezeControl _freeze;
    private readonly ConfigWatcher _config;
    private readonly Inbox _inbox;
    private readonly List<(IKilnCallback Callback, bool Enabled)> _registrations = [];
    private readonly KernelEnv _defaultEnv = new();
    private readonly ActuatorsFile _actuators;

    private FileLock? _kernelLock;
    private long _pollTicks;
    private int _debounce;
    private long _nextPollAt;
    private int _callsSincePoll;
    private long? _lastStep;
    private bool _started;
    private bool _ended;

    public KilnKernel(string runDir, KernelOptions? options = null) : this(new RunFiles(runDir), options)
    {
    }

    /// <summary>A kernel over run files whose configuration or inbox live elsewhere (the standalone controller).</summary>
    public KilnKernel(RunFiles files, KernelOptions? options = null)
    {
        _options = options ?? new KernelOptions();
        _time = _options.Time;
        Files = files;
        CheckBudget(_options.CallbackTimeBudget, nameof(KernelOptions.CallbackTimeBudget));
        if (_options.CallbackStopGrace < TimeSpan.Zero || _options.CallbackStopGrace.TotalSeconds > TimeBudget.MaxSeconds)
            throw new ArgumentOutOfRangeException(nameof(options), _options.CallbackStopGrace, "CallbackStopGrace: at least 0 and at most 1000000 s");
        _cb = new CallbackModule(new CallbackRunner(_time, _options.Stop, _options.CallbackStopGrace));
        _ledger = new LedgerRecorder(_time);
        _dispatch = new Dispatcher(_modules, _ledger, files);
        _freeze = new FreezeControl(files, _ledger, _dispatch, () => _config!.Waiting);
        _config = new ConfigWatcher(files, _ledger, _dispatch, _modules, _cb, ApplySettings);
        _inbox = new Inbox(files, _options.MaxLineBytes, _ledger, _dispatch);
        _actuators = new ActuatorsFile(files, _modules, _time, _options.Warn);
        foreach (var loader in _options.CallbackLoaders) _cb.AddLoader(loader);
        // The order of the table is the order of kiln.actuators.json's dials and of kiln.yaml's module sections.
        IKernelModule[] modules = [new CoreModule(_freeze), _opt, _loss, _cb, .. _options.Modules];
        foreach (var module in modules) _dispatch.Add(module);
        ApplySettings(KernelSettings.None);
    }

    public RunFiles Files { get; }

    public FreezeState Freeze => _dispatch.Freeze;

    /// <summary>Recipe entries not yet fired or missed; 0 when not replaying.</summary>
    public int ReplayRemaining => _freeze.Remaining;

    /// <summary>
    /// Why the ledger could not be written (a full disk, a read-only directory), or null. From then on the kernel applies
    /// nothing: every safe point throws <see cref="LedgerUnavailableException"/>.
    /// </summary>
    public string? LedgerFailure => _ledger.Failure;

    /// <summary>The <c>seq</c> of the ledger's last line (0 before the kernel starts): what a checkpoint's state includes.</summary>
    public long LedgerSeq => _started ? _ledger.Ledger.LastSeq : 0;

    /// <summary>
    /// The settings of <c>kiln.yaml</c>'s <c>kernel:</c> section as last applied (none before the kernel starts). The
    /// run reads <see cref="KernelSettings.WaitForDiskSpace"/> from here, on its metrics writer's thread.
    /// </summary>
    public KernelSettings Settings { get; private set; } = KernelSettings.None;

    public bool IsCallbackEnabled(string id) => _cb.IsEnabled(id);

    public IKilnCallback? GetCallback(string id) => _cb.Get(id);

    public bool IsOptimizerEnabled(string id = OptModule.DefaultId) => _opt.IsEnabled(id);

    public bool IsLossEnabled(string id = LossModule.DefaultId) => _loss.IsEnabled(id);

    /// <summary>The module commands name as <paramref name="name"/> (<c>core</c>, <c>cb</c>, <c>opt</c>, <c>loss</c>, or one added), or null.</summary>
    public IKernelModule? GetModule(string name) => _modules.Find(name);

    /// <summary>Exposes an optimizer to the <c>opt</c> module under <paramref name="id"/>.</summary>
    public void AddOptimizer(IOptimizerActuator actuator, string id = OptModule.DefaultId)
    {
        _opt.Register(id, actuator);
        DialsAdded();
    }

    /// <summary>Exposes a composite loss to the <c>loss</c> module under <paramref name="id"/>.</summary>
    public void AddLoss(ILossActuator actuator, string id = LossModule.DefaultId)
    {
        _loss.Register(id, actuator);
        DialsAdded();
    }

    /// <summary>
    /// Registers the trainer's in-memory state (weights, optimizer, loss dials) for modules that roll back, and plugs in
    /// <c>tune</c>, which needs it: a run that registers none answers tune's commands with "not available in this run".
    /// Call it before the first safe point, so <c>kiln.yaml</c>'s <c>tune</c> section is part of the baseline.
    /// </summary>
    public void SetRunState(IRunState state)
    {
        _dispatch.RunState = state;
        if (_modules.Find(Modules.Tune.TuneModule.ModuleName) is null) AddModule(new Modules.Tune.TuneModule());
    }

    /// <summary>
    /// Plugs a module in: commands whose <c>module</c> is its name go to it, its dials join <c>kiln.actuators.json</c>,
    /// and <c>kiln.yaml</c> may have a section named after it. Add it before the first safe point, so the baseline sees it.
    /// </summary>
    public void AddModule(IKernelModule module)
    {
        if (_ended) throw new InvalidOperationException("the kernel has ended");
        _dispatch.Add(module);
        DialsAdded();
    }

    private void DialsAdded()
    {
        _dispatch.DialsChanged = true;
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
        _ledger.Record(new Command { Module = "cb", Op = "load", Id = callback.Id }, Sources.Code, null, new Moment(_lastStep, StartEvent, null), result);
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
        if (!FileLock.TryAcquirePatiently(Files.KernelLockPath, out _kernelLock))
            throw new InvalidOperationException($"{Files.Dir}: another kernel is running in this run directory");
        _started = true;
        foreach (var loader in _options.CallbackLoaders) loader.Prepare();
        var e = env ?? _defaultEnv;
        var at = new Moment(null, StartEvent, e);
        _ledger.Open(Files.LedgerPath);
        foreach (var problem in _ledger.Ledger.Problems) _options.Warn(problem);
        if (_ledger.Ledger.DroppedTornBytes > 0)
        {
            _ledger.Kernel("recover", at, OpResult.Applied(
                new JsonObject { ["dropped_bytes"] = _ledger.Ledger.DroppedTornBytes },
                "dropped the unfinished last line of the ledger left by a killed kernel"));
        }
        if (_options.ResumeAfterSeq is { } after) _catchUp = ResumeCatchUp.From(Ledger.ReadAll(Files.LedgerPath), after);
        _freeze.Start(at);
        _config.Start(at);
        _catchUp?.LoadCallbacks(at, _dispatch);
        foreach (var (callback, enabled) in _registrations)
        {
            var result = _cb.Register(callback, enabled, e);
            _ledger.Record(new Command { Module = "cb", Op = "load", Id = callback.Id }, Sources.Code, null, at, result);
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
        // A command applied but not ledgered would be applied again by a resumed run: the step in flight does not go on.
        else if (_ledger.Failure is not null) throw _ledger.Refusal();
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
                Poll(new Moment(step, evt, e));
            }
        }
        if (_catchUp is not null && step >= _catchUp.DueStep) _catchUp.Fire(step, evt, e, _dispatch, _ledger);
        if (step >= _freeze.DueStep) _freeze.Fire(step, evt, e);
        if (_modules.Listening.Length != 0) _dispatch.SafePoint(evt, e);
        if (_dispatch.DialsChanged) WriteActuators();
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
            if (_catchUp is not null && step >= _catchUp.DueStep) _catchUp.Fire(step, events[i], e, _dispatch, _ledger);
            if (step >= _freeze.DueStep) _freeze.Fire(step, events[i], e);
            if (_modules.Listening.Length != 0) _dispatch.SafePoint(events[i], e);
        }
        if (_dispatch.DialsChanged) WriteActuators();
    }

    /// <summary>
    /// Ends the run: recipe entries that never fired are ledgered as missed, modules (and so callbacks) are closed.
    /// Under the <c>strict</c> replay policy, missed entries then raise <see cref="ReplayMissedException"/>; when the ledger
    /// could not be written, <see cref="LedgerUnavailableException"/> (after every module closed).
    /// </summary>
    public void End(long? step = null, KernelEnv? env = null)
    {
        if (!_started || _ended) return;
        _ended = true;
        _ledger.Closing = true;
        var at = new Moment(step ?? _lastStep, EndEvent, env ?? _defaultEnv);
        string? strictError;
        try
        {
            strictError = _freeze.End(at);
            _dispatch.Close(at.Step, at.Env);
            WriteActuators();
        }
        finally
        {
            _kernelLock?.Dispose();
            _kernelLock = null;
        }
        if (_ledger.Failure is not null) throw _ledger.Refusal();
        if (strictError is not null) throw new ReplayMissedException(strictError);
    }

    /// <summary>
    /// Releases the run without ending it (an interrupted run): modules are closed, but recipe entries not yet
    /// due stay unfired rather than missed, so a resumed run replays them. Call <see cref="End"/> when training finished.
    /// </summary>
    public void Dispose()
    {
        if (_started && !_ended)
        {
            _ended = true;
            _ledger.Closing = true;
            _dispatch.Close(_lastStep, null);
            WriteActuators();
        }
        _kernelLock?.Dispose();
        _kernelLock = null;
    }

    private void Poll(Moment at)
    {
        _freeze.Poll(at);
        _config.Poll(at);
        _inbox.Read(at);
        if (!_dispatch.DialsChanged) _actuators.WriteIfDrifted(Freeze, at.Step);
    }

    private void ApplySettings(KernelSettings s)
    {
        Settings = s;
        var poll = s.PollIntervalMs is { } ms ? TimeSpan.FromMilliseconds(ms) : _options.PollInterval;
        _pollTicks = (long)(poll.TotalSeconds * _time.TimestampFrequency);
        _debounce = s.DebounceSteps ?? Math.Max(1, _options.DebounceSteps);
        _dispatch.AutoDisableOnError = s.AutoDisableOnError ?? _options.AutoDisableOnError;
        _cb.DefaultBudget = s.CallbackTimeBudgetS is { } budget ? TimeSpan.FromSeconds(budget) : _options.CallbackTimeBudget;
    }

    private static void CheckBudget(TimeSpan budget, string name)
    {
        if (budget <= TimeSpan.Zero || budget.TotalSeconds > TimeBudget.MaxSeconds)
            throw new ArgumentOutOfRangeException("options", budget, $"{name}: a time budget is more than 0 and at most {TimeBudget.MaxSeconds:0} s");
    }

    private void WriteActuators()
    {
        _dispatch.DialsChanged = false;
        // Without a ledger the dials may hold a change no ledger line explains: the file keeps the last ledgered state.
        if (_ledger.Failure is not null) return;
        _actuators.Write(Freeze, _lastStep);
    }
}
