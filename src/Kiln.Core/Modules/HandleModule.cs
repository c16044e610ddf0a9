using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Modules;

/// <summary>
/// A module whose dials sit behind handles: actuators registered under an id (<c>main</c> by default), each of which
/// can be switched off. It answers <c>enable</c>, <c>disable</c> and <c>set_params</c> with the checks, messages and
/// failure handling such modules share; a subclass plans <c>set_params</c> and describes the dials.
/// </summary>
public abstract class HandleModule<TActuator> : IKernelModule where TActuator : class
{
    public const string DefaultId = "main";

    private readonly Dictionary<string, Handle> _handles = new(StringComparer.Ordinal);
    private readonly string _noun;

    /// <param name="name">The module's name (<c>opt</c>).</param>
    /// <param name="noun">What a handle is, for messages (<c>optimizer</c>).</param>
    protected HandleModule(string name, string noun)
    {
        Name = name;
        _noun = noun;
    }

    private sealed class Handle(TActuator actuator)
    {
        public TActuator Actuator { get; } = actuator;
        public bool Enabled { get; set; } = true;
    }

    public string Name { get; }

    /// <summary>Exposes <paramref name="actuator"/> under <paramref name="id"/> (replacing one registered before).</summary>
    public void Register(string id, TActuator actuator)
    {
        Check(actuator);
        _handles[id] = new Handle(actuator);
    }

    /// <summary>Throws <see cref="ArgumentException"/> for an actuator the module cannot serve.</summary>
    protected virtual void Check(TActuator actuator)
    {
    }

    public bool IsEnabled(string id) => _handles.TryGetValue(id, out var h) && h.Enabled;

    /// <summary>The handles in registration order.</summary>
    protected IEnumerable<(string Id, TActuator Actuator, bool Enabled)> Handles => _handles.Select(kv => (kv.Key, kv.Value.Actuator, kv.Value.Enabled));

    public OpResult Apply(Command command, OpContext context)
    {
        var id = command.Id ?? DefaultId;
        if (!_handles.TryGetValue(id, out var handle))
        {
            return _handles.Count == 0
                ? OpResult.Rejected($"no {_noun} actuator is registered in this run")
                : OpResult.Rejected($"id: no {_noun} '{id}' (known: {string.Join(", ", _handles.Keys)})");
        }
        switch (command.Op)
        {
            case "enable":
                if (handle.Enabled) return OpResult.Noop($"{Name}:{id} is already enabled");
                handle.Enabled = true;
                return OpResult.Applied();
            case "disable":
                if (!handle.Enabled) return OpResult.Noop($"{Name}:{id} is already disabled");
                handle.Enabled = false;
                return OpResult.Applied();
            case "set_params":
                if (!handle.Enabled) return OpResult.Noop($"{Name}:{id} is disabled; `kiln {Name} enable --id {id}` turns it back on");
                return SetParams(id, handle, command.Params, context);
            default:
                return OpResult.Rejected($"op: unknown op \"{command.Op}\" for module {Name} (known: enable, disable, set_params)");
        }
    }

    /// <summary>
    /// Validates <paramref name="parameters"/> against <paramref name="actuator"/> without changing anything: each
    /// valid key becomes a step in <paramref name="steps"/> (which applies it and records what took effect), each
    /// invalid one a message in <paramref name="errors"/>. Returns a rejection of the whole command, or null.
    /// </summary>
    protected abstract OpResult? Plan(TActuator actuator, JsonObject parameters, OpContext context, List<Action<JsonObject>> steps, List<string> errors);

    private OpResult SetParams(string id, Handle handle, JsonObject? parameters, OpContext context)
    {
        if (parameters is null || parameters.Count == 0) return OpResult.Rejected("params: nothing to set (give key=value pairs)");
        var steps = new List<Action<JsonObject>>();
        var errors = new List<string>();
        if (Plan(handle.Actuator, parameters, context, steps, errors) is { } rejected) return rejected;
        if (steps.Count == 0) return OpResult.Rejected(string.Join("; ", errors));
        var applied = new JsonObject();
        try
        {
            foreach (var step in steps) step(applied);
        }
        catch (Exception ex)
        {
            if (context.AutoDisableOnError)
            {
                handle.Enabled = false;
                errors.Insert(0, $"{Name}:{id} disabled after the error; `kiln {Name} enable --id {id}` turns it back on");
            }
            return OpResult.Failed(ex, applied, errors.Count > 0 ? string.Join("; ", errors) : null);
        }
        return OpResult.Applied(applied, errors.Count > 0 ? string.Join("; ", errors) : null);
    }

    public abstract void Describe(List<ActuatorState> into, long step);

    public abstract void SetBounds(IReadOnlyDictionary<string, Bounds> bounds);
}
