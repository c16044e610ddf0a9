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

    /// <summary>Starts or stops <see cref="IKernelModule.OnSafePoint"/> calls for <paramref name="module"/>.</summary>
    void Listen(IKernelModule module, bool listening);
}
