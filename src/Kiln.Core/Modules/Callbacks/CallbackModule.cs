using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Modules.Callbacks;

/// <summary>
/// The <c>cb</c> module: <c>load</c>, <c>enable</c>, <c>disable</c>, <c>set_params</c>, <c>unload</c>; and the dispatch
/// of safe-point events to enabled callbacks, isolating their failures.
/// </summary>
internal sealed class CallbackModule : IKernelModule
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
    }

    public string Name => "cb";

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
        try { callback.OnAttach(env); }
        catch (Exception ex) { return OpResult.Failed(ex, notes: "OnAttach threw; the callback was not registered"); }
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
        var slot = Find(id);
        var known = _slots.Count == 0 ? "none loaded" : "loaded: " + string.Join(", ", _slots.Select(s => s.Id));
        switch (command.Op)
        {
            case "enable" or "disable" or "set_params" or "unload" when slot is null:
                return OpResult.Rejected($"id: no callback '{id}' ({known})");
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
                try
                {
                    slot!.Callback.SetParams((JsonObject)command.Params.DeepClone());
                }
                catch (Exception ex)
                {
                    // A bad value is the caller's error; anything else is the callback's failure.
                    if (ex is ProtocolException or ArgumentException or FormatException or InvalidCastException)
                        return OpResult.Rejected($"params: {OpResult.Describe(ex)}");
                    return OpResult.Failed(ex, notes: DisableAfterError(slot!, context));
                }
                foreach (var (k, v) in command.Params) slot.Params[k] = v?.DeepClone();
                return OpResult.Applied((JsonObject)command.Params.DeepClone());
            case "unload":
                string? closeError = Close(slot!);
                _slots.Remove(slot!);
                Rebuild();
                return closeError is null ? OpResult.Applied() : OpResult.Applied(notes: "Close threw: " + closeError);
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
        LoadedCallback loaded;
        try
        {
            loaded = loader.Load(new CallbackLoadRequest(id, command.Target, command.Init, command.SourceCapture, context.Files));
        }
        catch (Exception ex)
        {
            return OpResult.Failed(ex, notes: "load failed; nothing changed");
        }
        var env = context.Env ?? new KernelEnv();
        try
        {
            loaded.Callback.OnAttach(env);
        }
        catch (Exception ex)
        {
            TryUnload(loaded);
            return OpResult.Failed(ex, notes: "OnAttach threw; the callback was not attached");
        }
        string? notes = null;
        var existing = Find(id);
        if (existing is not null)
        {
            var closeError = Close(existing);
            _slots.Remove(existing);
            notes = "replaced the callback loaded before under this id" + (closeError is null ? "" : "; its Close threw: " + closeError);
        }
        var enabled = command.Enabled ?? true;
        var slot = new Slot(id, loaded.Callback)
        {
            Enabled = enabled,
            Target = command.Target,
            Init = command.Init,
            Loaded = loaded,
        };
        _slots.Add(slot);
        Rebuild();
        var payload = new JsonObject
        {
            ["target"] = command.Target.ToJson(),
            ["init"] = command.Init?.DeepClone(),
            ["enabled"] = enabled,
        };
        if (loaded.Capture is not null) payload["source_capture"] = loaded.Capture.ToJson();
        return OpResult.Applied(payload, notes);
    }

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
            try
            {
                slot.Callback.Handle(evt, env);
            }
            catch (Exception ex)
            {
                ReportHandleFailure(slot, evt, env, ex);
            }
        }
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
            try { slot.Callback.Close(); }
            catch (Exception ex) { _host?.Report(new Command { Module = Name, Op = "close", Id = slot.Id }, OpResult.Failed(ex), step, KernelEvents.End, env); }
            TryUnload(slot.Loaded);
        }
        _slots.Clear();
        Rebuild();
    }

    private static string? Close(Slot slot)
    {
        string? error = null;
        try { slot.Callback.Close(); }
        catch (Exception ex) { error = OpResult.Describe(ex); }
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
            var info = new JsonObject { ["params"] = s.Params.DeepClone() };
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
