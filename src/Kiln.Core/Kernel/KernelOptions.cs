using Kiln.IO;
using Kiln.Modules;
using Kiln.Modules.Callbacks;

namespace Kiln.Kernel;

/// <summary>How a kernel runs. <c>kiln.yaml</c>'s <c>kernel:</c> section overrides the polling and failure settings.</summary>
public sealed record KernelOptions
{
    /// <summary>The clock behind polling and ledger timestamps; tests pass a manual one.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Files are read at most this often. Commands land within about this long of being written.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(5);

    /// <summary>Files are read at most every this many safe points.</summary>
    public int DebounceSteps { get; init; } = 1;

    /// <summary>A callback or actuator that throws is disabled (and can be re-enabled from the command line).</summary>
    public bool AutoDisableOnError { get; init; } = true;

    /// <summary>Inbox lines longer than this are rejected without being read into memory.</summary>
    public int MaxLineBytes { get; init; } = JsonlFile.MaxLineBytes;

    /// <summary>Extra callback loaders, tried before the built-in type loader (Kiln.Scripting adds C# source files).</summary>
    public IReadOnlyList<ICallbackLoader> CallbackLoaders { get; init; } = [];

    /// <summary>
    /// Modules plugged in besides <c>core</c>, <c>cb</c>, <c>opt</c> and <c>loss</c>, each named by the commands it takes
    /// (see <see cref="Kiln.Modules.IKernelModule"/>). A module instance belongs to one kernel.
    /// </summary>
    public IReadOnlyList<IKernelModule> Modules { get; init; } = [];

    /// <summary>Where the kernel reports problems that have no ledger line (a ledger line it could not read).</summary>
    public Action<string> Warn { get; init; } = message => Console.Error.WriteLine("kiln: " + message);
}
