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

    /// <summary>
    /// How long one call into a callback's code (<c>Handle</c> for one event, <c>SetParams</c>, <c>OnAttach</c>, <c>Close</c>,
    /// its constructor) may take, unless the callback was loaded with a budget of its own (<c>time_budget_s</c>). A call
    /// that overruns it is left running on its thread, the callback is disabled and never called again, and training
    /// goes on. Callbacks run on a thread of the kernel's, never on the training thread, so the loop can walk away.
    /// </summary>
    public TimeSpan CallbackTimeBudget { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Once <see cref="Stop"/> is cancelled, a callback call in progress gets at most this long more before the run leaves it running.</summary>
    public TimeSpan CallbackStopGrace { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The run's stop request (<see cref="Kiln.Runs.KilnRun"/> passes its own): it ends the wait for a callback that does
    /// not return, after <see cref="CallbackStopGrace"/>, so a stuck callback never keeps a run from stopping.
    /// </summary>
    public CancellationToken Stop { get; init; }

    /// <summary>Inbox lines longer than this are rejected without being read into memory.</summary>
    public int MaxLineBytes { get; init; } = JsonlFile.MaxLineBytes;

    /// <summary>Extra callback loaders, tried before the built-in type loader (Kiln.Scripting adds C# source files).</summary>
    public IReadOnlyList<ICallbackLoader> CallbackLoaders { get; init; } = [];

    /// <summary>
    /// Modules plugged in besides <c>core</c>, <c>cb</c>, <c>opt</c> and <c>loss</c>, each named by the commands it takes
    /// (see <see cref="Kiln.Modules.IKernelModule"/>). A module instance belongs to one kernel.
    /// </summary>
    public IReadOnlyList<IKernelModule> Modules { get; init; } = [];

    /// <summary>
    /// The ledger <c>seq</c> of the checkpoint a resumed run starts from: the changes ledgered after it are made again at
    /// their steps (<see cref="ResumeCatchUp"/>). Null for a run that starts afresh.
    /// </summary>
    public long? ResumeAfterSeq { get; init; }

    /// <summary>Where the kernel reports problems that have no ledger line (a ledger line it could not read).</summary>
    public Action<string> Warn { get; init; } = message => Console.Error.WriteLine("kiln: " + message);
}
