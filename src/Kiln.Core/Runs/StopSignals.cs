using System.Globalization;
using System.Runtime.InteropServices;

namespace Kiln.Runs;

/// <summary>
/// How a Kiln process is asked to stop, in one place: SIGTERM, SIGINT and SIGHUP (what <c>kill</c>, Ctrl-C, a closed
/// terminal, Slurm's <c>scancel</c>, preemption and time limits send), and — for a worker started by a Kiln runner,
/// which names itself in <see cref="ParentPidVariable"/> — the runner's disappearance. The first request cancels
/// <see cref="Token"/>, so long-running work winds down cleanly (kernel ended, metrics flushed, status
/// <c>stopped</c>); a second signal runs the registered last words (<see cref="OnForcedExit"/>) and exits at once.
/// </summary>
public sealed class StopSignals
{
    /// <summary>Set by a runner for its worker processes: the runner's pid, watched by the worker.</summary>
    public const string ParentPidVariable = "KILN_PARENT_PID";

    private static readonly Lock Gate = new();
    private static StopSignals? _installed;

    private readonly CancellationTokenSource _stop = new();
    private readonly List<PosixSignalRegistration> _registrations = [];
    private readonly List<Action> _lastWords = [];
    private ITimer? _parentWatch;
    private int _signal;
    private string? _reason;

    private StopSignals()
    {
    }

    /// <summary>The process-wide instance, registering the signal handlers the first time it is asked for.</summary>
    public static StopSignals Install(TimeProvider? time = null)
    {
        lock (Gate)
        {
            if (_installed is not null) return _installed;
            var signals = new StopSignals();
            foreach (var (posix, number) in new[] { (PosixSignal.SIGTERM, Processes.SigTerm), (PosixSignal.SIGINT, Processes.SigInt), (PosixSignal.SIGHUP, Processes.SigHup) })
            {
                try
                {
                    signals._registrations.Add(PosixSignalRegistration.Create(posix, context =>
                    {
                        // Handled here: the default would end the process before the run could say how it ended.
                        context.Cancel = true;
                        signals.Receive(number, $"received {posix}");
                    }));
                }
                catch (PlatformNotSupportedException)
                {
                    // SIGHUP has no meaning on some systems; the others still stop the process.
                }
            }
            signals.WatchParent(time ?? TimeProvider.System);
            return _installed = signals;
        }
    }

    /// <summary>The process-wide instance when a part of the process installed it (a run, a command); else null.</summary>
    public static StopSignals? Installed => Volatile.Read(ref _installed);

    /// <summary>Cancelled by the first stop request.</summary>
    public CancellationToken Token => _stop.Token;

    public bool StopRequested => _stop.IsCancellationRequested;

    /// <summary>Why the process is stopping ("received SIGTERM", "the runner … is gone"), or null.</summary>
    public string? Reason => Volatile.Read(ref _reason);

    /// <summary>The signal that stopped the process first (SIGTERM for a vanished runner), or 0.</summary>
    public int Signal => Volatile.Read(ref _signal);

    /// <summary>The exit code that tells a caller how the process was stopped: 128 + the signal (130 for Ctrl-C, 143 for SIGTERM).</summary>
    public int ExitCode => Processes.ExitCodeFor(Signal == 0 ? Processes.SigInt : Signal);

    /// <summary>Runs <paramref name="action"/> before a forced exit (a second signal): flush what can be flushed, kill children.</summary>
    public IDisposable OnForcedExit(Action action)
    {
        lock (_lastWords) _lastWords.Add(action);
        return new Removal(() => { lock (_lastWords) _lastWords.Remove(action); });
    }

    /// <summary>Asks the process to stop as a signal would (tests, and callers with their own reasons).</summary>
    public void Request(string reason, int signal = Processes.SigTerm) => Receive(signal, reason);

    private void Receive(int signal, string reason)
    {
        if (Interlocked.CompareExchange(ref _signal, signal, 0) != 0)
        {
            ForceExit(signal);
            return;
        }
        Volatile.Write(ref _reason, reason);
        Console.Error.WriteLine($"kiln: {reason}; stopping cleanly (send it again to stop at once)");
        // Cancellation runs the registered callbacks; off the signal thread, so a slow one cannot delay a second signal.
        ThreadPool.UnsafeQueueUserWorkItem(_ => _stop.Cancel(), null);
    }

    private void ForceExit(int signal)
    {
        Action[] last;
        lock (_lastWords) last = [.. _lastWords];
        foreach (var action in last)
        {
            try { action(); }
            catch (Exception ex) { Console.Error.WriteLine($"kiln: while stopping at once: {ex.Message}"); }
        }
        Console.Error.Flush();
        Environment.Exit(Processes.ExitCodeFor(signal));
    }

    /// <summary>A worker whose runner died (even by SIGKILL) is re-parented; it notices and stops rather than train on alone.</summary>
    private void WatchParent(TimeProvider time)
    {
        var text = Environment.GetEnvironmentVariable(ParentPidVariable);
        if (string.IsNullOrEmpty(text) || !int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parent) || parent <= 0) return;
        // Inherited by a grandchild (a shell's child, say), the variable names someone else's parent: ignored.
        if (OperatingSystem.IsWindows() || Processes.ParentId() != parent) return;
        var interval = TimeSpan.FromMilliseconds(500);
        _parentWatch = time.CreateTimer(_ =>
        {
            if (Processes.ParentId() == parent || StopRequested) return;
            Receive(Processes.SigTerm, $"the runner that started this worker (pid {parent}) is gone");
        }, null, interval, interval);
    }

    private sealed class Removal(Action remove) : IDisposable
    {
        private Action? _remove = remove;

        public void Dispose() => Interlocked.Exchange(ref _remove, null)?.Invoke();
    }
}
