using Kiln.Protocol;

namespace Kiln.Modules;

/// <summary>What a module sees of the safe point at which a command is applied.</summary>
public readonly record struct OpContext(long? Step, string Event, KernelEnv? Env, bool AutoDisableOnError, RunFiles Files)
{
    /// <summary>The step for schedules and ramps; before the first safe point it is 0.</summary>
    public long StepOrZero => Step ?? 0;
}

/// <summary>
/// A kernel module: the kernel routes every command whose <c>module</c> is <see cref="Name"/> to it, writes the
/// decision it returns to the ledger, and lists its dials in <c>kiln.actuators.json</c>. <c>core</c>, <c>cb</c>,
/// <c>opt</c> and <c>loss</c> are modules; add one with <c>KernelOptions.Modules</c> or <c>KilnKernel.AddModule</c>.
/// </summary>
/// <remarks>
/// The kernel calls a module only from the training loop's thread. Freeze is the kernel's business: a module sees
/// only the commands that passed it. A module belongs to one kernel.
/// </remarks>
public interface IKernelModule
{
    /// <summary>The <c>module</c> of the commands it takes (<c>opt</c>, <c>tune</c>, …), and the name of its <c>kiln.yaml</c> section.</summary>
    string Name { get; }

    /// <summary>Called once when the module joins a kernel, before anything else: the host is how it reaches the ledger and the safe points.</summary>
    void Attach(IModuleHost host) { }

    /// <summary>
    /// Validates and applies one command: check everything first, change nothing on a rejection, and report a partial
    /// application key by key (<see cref="OpResult.Notes"/>). An exception becomes a <c>failed</c> ledger line.
    /// The payload of an applied <c>set_params</c> is what took effect: a recipe replays it.
    /// </summary>
    OpResult Apply(Command command, OpContext context);

    /// <summary>Adds the module's dials, with their current values, for <c>kiln.actuators.json</c>.</summary>
    void Describe(List<ActuatorState> into, long step) { }

    /// <summary>
    /// The bounds of the module's <c>kiln.yaml</c> section (<c>&lt;name&gt;.bounds</c>), replacing the previous ones;
    /// an empty map restores the defaults. Throw a <see cref="ProtocolException"/> naming a key the module does not know.
    /// </summary>
    void SetBounds(IReadOnlyDictionary<string, Bounds> bounds)
    {
        if (bounds.Count > 0) throw new ProtocolException($"{Name}.bounds.{bounds.Keys.First()}: module {Name} has no bounds");
    }

    /// <summary>A safe point's event; called only while the module listens (<see cref="IModuleHost.Listen"/>), so idle modules cost nothing.</summary>
    void OnSafePoint(string evt, KernelEnv env) { }

    /// <summary>The run ended, or the kernel was disposed: release what the module holds. Report failures with <see cref="IModuleHost.Report"/>.</summary>
    void Close(long? step, KernelEnv? env) { }
}
