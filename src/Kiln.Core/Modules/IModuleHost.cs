using Kiln.Protocol;

namespace Kiln.Modules;

/// <summary>What a kernel offers the modules it hosts (given to <see cref="IKernelModule.Attach"/>).</summary>
public interface IModuleHost
{
    /// <summary>The run's files.</summary>
    RunFiles Files { get; }

    /// <summary>Whether something that throws is disabled (<c>kiln.yaml</c>'s <c>kernel.auto_disable_on_error</c>, or the kernel's option).</summary>
    bool AutoDisableOnError { get; }

    /// <summary>
    /// Writes a ledger line (source <c>kernel</c>) for a decision the module made outside <see cref="IKernelModule.Apply"/>:
    /// a callback that threw at a safe point, a close that failed. The run's dials are described again afterwards.
    /// </summary>
    void Report(Command command, OpResult result, long? step, string evt, KernelEnv? env);

    /// <summary>The freeze state: while frozen a module makes no change of its own (under replay, the recipe makes them).</summary>
    FreezeState Freeze { get; }

    /// <summary>The trainer's state to capture and restore in memory, or null when the trainer registered none.</summary>
    IRunState? RunState { get; }

    /// <summary>Every module's dials with their values at <paramref name="step"/> (what <c>kiln.actuators.json</c> lists).</summary>
    IReadOnlyList<ActuatorState> Dials(long step);

    /// <summary>
    /// Applies <paramref name="command"/> as if it came from the inbox with <paramref name="source"/> (routed to its module,
    /// one ledger line), for a module that steers others: <c>tune</c> changes the learning rate through <c>opt</c>, so the
    /// change is in the ledger and its recipe like any other.
    /// </summary>
    OpResult Execute(Command command, string source, long? step, string evt, KernelEnv? env);

    /// <summary>Starts or stops <see cref="IKernelModule.OnSafePoint"/> calls for <paramref name="module"/>.</summary>
    void Listen(IKernelModule module, bool listening);
}
