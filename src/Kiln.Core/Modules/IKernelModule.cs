using Kiln.Protocol;

namespace Kiln.Modules;

/// <summary>What a module sees of the safe point at which a command is applied.</summary>
public readonly record struct OpContext(long? Step, string Event, KernelEnv? Env, bool AutoDisableOnError, RunFiles Files)
{
    /// <summary>The step for schedules and ramps; before the first safe point it is 0.</summary>
    public long StepOrZero => Step ?? 0;
}

/// <summary>A kernel module: validates and applies the commands routed to it, and describes its dials.</summary>
internal interface IKernelModule
{
    string Name { get; }

    OpResult Apply(Command command, OpContext context);

    /// <summary>Adds this module's dials, with their current values, for <c>kiln.actuators.json</c>.</summary>
    void Describe(List<ActuatorState> into, long step);
}
