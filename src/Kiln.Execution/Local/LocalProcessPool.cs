using Kiln.Execution.Jobs;
using Kiln.Runs;

namespace Kiln.Execution.Local;

/// <summary>How the local pool runs its jobs.</summary>
public sealed record LocalPoolOptions
{
    /// <summary>Jobs at a time (default: one per core).</summary>
    public int Parallelism { get; init; } = Environment.ProcessorCount;

    /// <summary>How long a job asked to stop (SIGTERM) may take before it is killed.</summary>
    public TimeSpan StopGrace { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Stop the jobs when this process is asked to stop (SIGTERM, SIGINT, SIGHUP; see <see cref="StopSignals"/>), and kill
    /// them before a forced exit, so no job outlives its runner.
    /// </summary>
    public bool FollowSignals { get; init; } = true;
}

/// <summary>
/// Runs jobs as child processes of this one, <see cref="LocalPoolOptions.Parallelism"/> at a time. Each job's output
/// goes to its <c>stdout.log</c> and <c>stderr.log</c>; a job that fails is reported with its exit code and the tail of
/// its stderr while its siblings go on; cancelling sends SIGTERM to the job's process group, then SIGKILL after
/// <see cref="LocalPoolOptions.StopGrace"/>. A job killed from outside by a signal ends <see cref="JobState.Stopped"/>.
/// </summary>
public sealed class LocalProcessPool : BoundedExecutor
{
    private readonly LocalPoolOptions _options;
    private readonly HashSet<ChildProcess> _running = [];
    private readonly IDisposable? _lastWords;
    private readonly CancellationTokenRegistration _onStop;

    public LocalProcessPool(LocalPoolOptions? options = null) : base((options ?? new LocalPoolOptions()).Parallelism)
    {
        _options = options ?? new LocalPoolOptions();
        if (_options.FollowSignals)
        {
            var signals = StopSignals.Install();
            _onStop = signals.Token.Register(CancelAll);
            _lastWords = signals.OnForcedExit(KillAll);
        }
    }

    public override string Kind => "local";

    /// <summary>Kills every running job and what it started, at once.</summary>
    public void KillAll()
    {
        lock (_running)
        {
            foreach (var child in _running) child.Signal(Processes.SigKill);
        }
    }

    protected override async Task<(JobState State, int? ExitCode, string? Error)> RunAsync(JobSpec spec, CancellationToken cancel)
    {
        using var child = ChildProcess.Start(spec);
        lock (_running) _running.Add(child);
        try
        {
            using var stop = cancel.Register(() => Stop(child));
            var exit = await child.WaitAsync().ConfigureAwait(false);
            if (exit == 0) return (JobState.Completed, exit, null);
            if (cancel.IsCancellationRequested || IsSignalExit(exit)) return (JobState.Stopped, exit, null);
            var tail = child.Tail();
            return (JobState.Failed, exit, $"exited with code {exit}{(tail.Length == 0 ? "" : ": " + tail)}");
        }
        finally
        {
            lock (_running) _running.Remove(child);
        }
    }

    private void Stop(ChildProcess child)
    {
        child.Signal(Processes.SigTerm);
        _ = Task.Delay(_options.StopGrace).ContinueWith(_ => child.Signal(Processes.SigKill), TaskScheduler.Default);
    }

    /// <summary>Exit codes of a process a signal stopped: a shell's 128 + n, or the negative code .NET reports for a kill.</summary>
    private static bool IsSignalExit(int exit) =>
        exit < 0 || exit == Processes.ExitCodeFor(Processes.SigTerm) || exit == Processes.ExitCodeFor(Processes.SigInt)
        || exit == Processes.ExitCodeFor(Processes.SigHup) || exit == Processes.ExitCodeFor(Processes.SigKill);

    protected override async ValueTask DisposeCoreAsync()
    {
        await _onStop.DisposeAsync().ConfigureAwait(false);
        _lastWords?.Dispose();
    }
}
