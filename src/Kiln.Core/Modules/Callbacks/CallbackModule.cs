using System.Runtime.ExceptionServices;
using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Modules.Callbacks;

/// <summary>
/// The <c>cb</c> module: <c>load</c>, <c>enable</c>, <c>disable</c>, <c>set_params</c>, <c>unload</c>; and the dispatch
/// of safe-point events to enabled callbacks, isolating their failures. Every call into a callback's code goes through
/// the <see cref="CallbackRunner"/>, under the callback's time budget: one that overruns it is left running, disabled
/// and never called again.
/// </summary>
internal sealed class CallbackModule(CallbackRunner runner) : IKernelModule
{
    private readonly List<ICallbackLoader> _loaders = [new TypeCallbackLoader()];
    private readonly List<Slot> _slots = [];
    private Slot[] _enabled = [];
    private IModuleHost? _host;

    private sealed class Slot(string id, IKilnCallback callback)
    {
        public string Id { get; } = id;
        public IKilnCallback Callback { get; set; } = callback;
        public bool Enabled { get; set; }
        public CallbackTarget? Target { get; set; }
        public JsonObject? Init { get; set; }
        public JsonObject Params { get; set; } = [];
        public LoadedCallback? Loaded { get; set; }
        /// <summary>Its own time budget (<c>time_budget_s</c>), else the kernel's.</summary>
        public TimeSpan? Budget { get; init; }
        /// <summary>The call it was left running in ("handle(train_step_end) at step 12"); it is never called again.</summary>
        public string? LeftRunning { get; set; }
    }

    public string Name => "cb";

    /// <summary>The time budget of callbacks loaded without one of their own (<c>kernel.callback_time_budget_s</c>).</summary>
    public TimeSpan DefaultBudget { get; set; } = TimeSpan.FromSeconds(30);

    public void Attach(IModuleHost host) => _host = host;

    public void AddLoader(ICallbackLoader loader) => _loaders.Insert(0, loader);

    public IEnumerable<string> Ids => _slots.Select(s => s.Id);

    public bool IsEnabled(string id) => Find(id)?.Enabled ?? false;

    public IKilnCallback? Get(string id) => Find(id)?.Callback;

    private Slot? Find(string id)
    {
        foreach (var s in _slots) if (s.Id == id) return s;
        return null;
    }

    /// <summary>A callback the trainer registered in code.</summary>
    public OpResult Register(IKilnCallback callback, bool enabled, KernelEnv env)
    {
        if (Find(callback.Id) is not null) return OpResult.Rejected($"id: a callback '{callback.Id}' is already registered");
        var slot = new Slot(callback.Id, callback)
        {
            Target = new CallbackTarget(CallbackTarget.InstanceKind, TypeName(callback), null),
        };
        var attached = runner.Run(() => callback.OnAttach(env), DefaultBudget);
        if (attached.Outcome == CallOutcome.Threw) return OpResult.Failed(attached.Error!, notes: "OnAttach threw; the callback was not registered");
        if (attached.LeftRunning) return LeftRunning("OnAttach", attached, "the callback was not registered");
        slot.Enabled = enabled;
        _slots.Add(slot);
        Rebuild();
        return OpResult.Applied(new JsonObject { ["target"] = slot.Target.ToJson(), ["enabled"] = enabled });
    }

    public OpResult Apply(Command command, OpContext context)
    {
        if (string.IsNullOrEmpty(command.Id)) return OpResult.Rejected("id: a cb command needs the callback's id");
        var id = command.Id;
        if (command.Op == "load") return Load(id, command, context);
        if (command.TimeBudgetS is not null) return OpResult.Rejected($"time_budget_s: only cb load takes a time budget (to change it, load cb:{id} again with the new one)");
        var slot = Find(id);
        var known = _slots.Count == 0 ? "none loaded" : "loaded: " + string.Join(", ", _slots.Select(s => s.Id));
        switch (command.Op)
        {
            case "enable" or "disable" or "set_params" or "unload" when slot is null:
                return OpResult.Rejected($"id: no callback '{id}' ({known})");
            case "enable" or "set_params" when slot!.LeftRunning is not null:
                return OpResult.Rejected($"cb:{id} is never called again: it was left running in {slot.LeftRunning} (it may still be running); `kiln cb load {id} …` loads a fresh one");
            case "enable":
                if (slot!.Enabled) return OpResult.Noop($"cb:{id} is already enabled");
                slot.Enabled = true;
                Rebuild();
                return OpResult.Applied();
            case "disable":
                if (!slot!.Enabled) return OpResult.Noop($"cb:{id} is already disabled");
                slot.Enabled = false;
                Rebuild();
                return OpResult.Applied();
            case "set_params":
                if (command.Params is null || command.Params.Count == 0) return OpResult.Rejected("params: nothing to set (give key=value pairs)");
                var callback = slot!.Callback;
                var given = (JsonObject)command.Params.DeepClone();
                var set = runner.Run(() => callback.SetParams(given), BudgetOf(slot));
                if (set.LeftRunning)
                {
                    LeaveRunning(slot, "SetParams");
                    return LeftRunning("SetParams", set, NeverAgain(slot));
                }
                if (set.Error is { } ex)
                {
                    // A bad value is the caller's error; anything else is the callback's failure.
                    if (OpResult.Unwrap(ex) is ProtocolException or ArgumentException or FormatException or InvalidCastException)
                        return OpResult.Rejected($"params: {OpResult.Describe(ex)}");
                    return OpResult.Failed(ex, notes: DisableAfterError(slot, context));
                }
                foreach (var (k, v) in command.Params) slot.Params[k] = v?.DeepClone();
                return OpResult.Applied((JsonObject)command.Params.DeepClone());
            case "unload":
                string? closeError = Close(slot!);
                _slots.Remove(slot!);
                Rebuild();
                return closeError is null ? OpResult.Applied() : OpResult.Applied(notes: closeError);
            default:
                return OpResult.Rejected($"op: unknown op \"{command.Op}\" for module cb (known: load, enable, disable, set_params, unload)");
        }
    }

    private OpResult Load(string id, Command command, OpContext context)
    {
        if (command.Target is null) return OpResult.Rejected("target: a load needs a target {kind, path, symbol}");
        if (command.Target.Kind == CallbackTarget.InstanceKind) return OpResult.Rejected("target.kind: instances are registered in code, not loaded");
        var loader = _loaders.FirstOrDefault(l => l.CanLoad(command.Target));
        if (loader is null)
        {
            return command.Target.Kind == CallbackTarget.FileKind
                ? OpResult.Failed(new NotSupportedException("loading C# source files needs Kiln.Scripting's compiler, and none is registered in this kernel"))
                : OpResult.Failed(new NotSupportedException($"no loader for target kind '{command.Target.Kind}'"));
        }
        TimeSpan? own = null;
        if (command.TimeBudgetS is { } seconds)
        {
            try { own = TimeSpan.FromSeconds(TimeBudget.Check(seconds, "time_budget_s")); }
            catch (ProtocolException ex) { return OpResult.Rejected(ex.Message); }
        }
        var budget = own ?? DefaultBudget;
        LoadedCallback loaded;
        try
        {
            loaded = loader.Load(new CallbackLoadRequest(id, command.Target, command.Init, command.SourceCapture, context.Files)
            {
                RunCallbackCode = create => Construct(create, budget),
            });
        }
        catch (CallbackTimeoutException ex)
        {
            return new OpResult(Decision.Failed, Error: ex.Message, Notes: "load failed; nothing changed (the constructor may still be running)");
        }
        catch (Exception ex)
        {
            return OpResult.Failed(ex, notes: "load failed; nothing changed");
        }
        var env = context.Env ?? new KernelEnv();
        var callback = loaded.Callback;
        var attached = runner.Run(() => callback.OnAttach(env), budget);
        if (attached.Outcome != CallOutcome.Returned)
        {
            TryUnload(loaded);
            return attached.LeftRunning
                ? LeftRunning("OnAttach", attached, "the callback was not attached")
                : OpResult.Failed(attached.Error!, notes: "OnAttach threw; the callback was not attached");
        }
        string? notes = null;
        var existing = Find(id);
        if (existing is not null)
        {
            var closeError = Close(existing);
            _slots.Remove(existing);
            notes = "replaced the callback loaded before under this id" + (closeError is null ? "" : "; " + closeError);
        }
        var enabled = command.Enabled ?? true;
        var slot = new Slot(id, loaded.Callback)
        {
            Enabled = enabled,
            Target = command.Target,
            Init = command.Init,
            Loaded = loaded,
            Budget = own,
        };
        _slots.Add(slot);
        Rebuild();
        var payload = new JsonObject
        {
            ["target"] = command.Target.ToJson(),
            ["init"] = command.Init?.DeepClone(),
            ["enabled"] = enabled,
        };
        if (own is not null) payload["time_budget_s"] = command.TimeBudgetS;
        if (loaded.Capture is not null) payload["source_capture"] = loaded.Capture.ToJson();
        return OpResult.Applied(payload, notes);
    }

    /// <summary>Runs a callback's constructor on the callback thread (what a loader's <see cref="CallbackLoadRequest.Create"/> calls).</summary>
    private IKilnCallback Construct(Func<IKilnCallback> create, TimeSpan budget)
    {
        IKilnCallback? made = null;
        var result = runner.Run(() => made = create(), budget);
        if (result.Error is { } error) ExceptionDispatchInfo.Throw(error);
        if (result.LeftRunning) throw new CallbackTimeoutException(Overran("the constructor", result));
        return made!;
    }

    private TimeSpan BudgetOf(Slot slot) => slot.Budget ?? DefaultBudget;

    /// <summary>The slot's callback was left running in <paramref name="call"/>: it is disabled, and never called again.</summary>
    private void LeaveRunning(Slot slot, string call)
    {
        slot.LeftRunning = call;
        slot.Enabled = false;
        Rebuild();
    }

    private static string NeverAgain(Slot slot) =>
        $"cb:{slot.Id} disabled and never called again: .NET cannot stop a thread, so it may still be running (and using a CPU core); `kiln cb load {slot.Id} …` loads a fresh one";

    private static string Overran(string call, CallResult result) => result.Outcome == CallOutcome.Stopped
        ? $"{call} was still running {TimeBudget.Show(result.Limit)} after the run was asked to stop"
        : $"{call} timed out after {TimeBudget.Show(result.Limit)}";

    private static OpResult LeftRunning(string call, CallResult result, string notes) =>
        new(Decision.Failed, Error: Overran(call, result), Notes: notes);

    private static string? DisableAfterError(Slot slot, OpContext context)
    {
        if (!context.AutoDisableOnError) return null;
        slot.Enabled = false;
        return $"cb:{slot.Id} disabled after the error; `kiln cb enable {slot.Id}` turns it back on";
    }

    /// <summary>Calls every enabled callback for one event; a callback that throws is reported and, by default, disabled.</summary>
    public void OnSafePoint(string evt, KernelEnv env)
    {
        var enabled = _enabled;
        for (var i = 0; i < enabled.Length; i++)
        {
            var slot = enabled[i];
            if (!slot.Enabled) continue;
            var result = runner.Handle(slot.Callback, evt, env, BudgetOf(slot));
            if (result.Outcome == CallOutcome.Threw) ReportHandleFailure(slot, evt, env, result.Error!);
            else if (result.LeftRunning) ReportLeftRunning(slot, evt, env, result);
        }
    }

    private void ReportLeftRunning(Slot slot, string evt, KernelEnv env, CallResult result)
    {
        var call = $"handle({evt}) at step {env.Step}";
        LeaveRunning(slot, call);
        _host?.Report(new Command { Module = Name, Op = "handle", Id = slot.Id }, LeftRunning(call, result, NeverAgain(slot)), env.Step, evt, env);
    }

    private void ReportHandleFailure(Slot slot, string evt, KernelEnv env, Exception ex)
    {
        var disable = _host?.AutoDisableOnError ?? true;
        if (disable)
        {
            slot.Enabled = false;
            Rebuild();
        }
        var inner = OpResult.Unwrap(ex);
        var result = new OpResult(Decision.Failed,
            Error: $"handle({evt}) threw {inner.GetType().Name}: {inner.Message}",
            Notes: disable
                ? $"cb:{slot.Id} disabled (auto_disable_on_error); `kiln cb enable {slot.Id}` turns it back on"
                : "auto_disable_on_error is off: the callback stays enabled",
            Traceback: inner.ToString());
        _host?.Report(new Command { Module = Name, Op = "handle", Id = slot.Id }, result, env.Step, evt, env);
    }

    /// <summary>Closes every callback (the run ended); a Close that throws is a failed <c>cb close</c> line.</summary>
    public void Close(long? step, KernelEnv? env)
    {
        foreach (var slot in _slots)
        {
            if (slot.LeftRunning is not null)
            {
                TryUnload(slot.Loaded);
                continue;
            }
            var closed = runner.Run(slot.Callback.Close, BudgetOf(slot));
            if (closed.Outcome != CallOutcome.Returned)
            {
                var result = closed.LeftRunning ? LeftRunning("Close", closed, "left running") : OpResult.Failed(closed.Error!);
                _host?.Report(new Command { Module = Name, Op = "close", Id = slot.Id }, result, step, KernelEvents.End, env);
            }
            TryUnload(slot.Loaded);
        }
        _slots.Clear();
        Rebuild();
        runner.Shutdown();
    }

    /// <summary>Closes a callback that is unloaded or replaced; what went wrong, or null.</summary>
    private string? Close(Slot slot)
    {
        string? error = null;
        if (slot.LeftRunning is not null) error = $"Close was not called: the callback was left running in {slot.LeftRunning}";
        else
        {
            var closed = runner.Run(slot.Callback.Close, BudgetOf(slot));
            if (closed.LeftRunning) error = Overran("Close", closed) + "; left running";
            else if (closed.Error is { } ex) error = "Close threw: " + OpResult.Describe(ex);
        }
        TryUnload(slot.Loaded);
        slot.Loaded = null;
        return error;
    }

    private static void TryUnload(LoadedCallback? loaded)
    {
        try { loaded?.Unload(); }
        catch (InvalidOperationException) { }
    }

    private void Rebuild()
    {
        _enabled = _slots.Where(s => s.Enabled).ToArray();
        _host?.Listen(this, _enabled.Length > 0);
    }

    public void Describe(List<ActuatorState> into, long step)
    {
        foreach (var s in _slots)
        {
            var info = new JsonObject { ["params"] = s.Params.DeepClone(), ["time_budget_s"] = BudgetOf(s).TotalSeconds };
            if (s.LeftRunning is not null) info["left_running"] = s.LeftRunning;
            if (s.Target is not null) info["target"] = s.Target.ToJson();
            if (s.Loaded?.Capture is { } cap) info["source_capture"] = cap.ToJson();
            into.Add(new ActuatorState
            {
                Module = Name, Id = s.Id, Key = "enabled", Type = ActuatorState.Callback,
                Value = JsonValue.Create(s.Enabled), Enabled = s.Enabled, Info = info,
            });
        }
    }

    /// <summary>The user's type, also for a callback adapted by its shape.</summary>
    private static string TypeName(IKilnCallback callback)
    {
        var type = (callback as StructuralCallback)?.Target.GetType() ?? callback.GetType();
        return type.FullName ?? type.Name;
    }
}
