using System.Diagnostics;

namespace Kiln.Modules.Callbacks;

/// <summary>How a call into a callback's code ended.</summary>
internal enum CallOutcome
{
    Returned,
    Threw,
    /// <summary>It did not return within its time budget; it was left running.</summary>
    TimedOut,
    /// <summary>The run was asked to stop and it did not return within the grace given; it was left running.</summary>
    Stopped,
}

/// <summary>A call's outcome; <paramref name="Limit"/> is the time it was given when it was left running.</summary>
internal readonly record struct CallResult(CallOutcome Outcome, Exception? Error = null, TimeSpan Limit = default)
{
    public static readonly CallResult Returned = new(CallOutcome.Returned);

    public bool LeftRunning => Outcome is CallOutcome.TimedOut or CallOutcome.Stopped;
}

/// <summary>
/// Runs calls into callbacks' code — <c>Handle</c>, <c>SetParams</c>, <c>OnAttach</c>, <c>Close</c>, constructors — on a
/// <see cref="CallbackThread"/>, never on the training thread, and waits for each within its time budget. A call that
/// overruns it is left running on its thread, which is abandoned; the next call gets a fresh thread. So a callback
/// stuck in <c>while (true) { }</c> costs the run one budget, and the training loop goes on.
/// </summary>
/// <remarks>
/// The wait spins for a few microseconds first (most calls return by then), then sleeps until the call returns, its
/// budget runs out on <see cref="TimeProvider"/> (so tests move time themselves), or the run is asked to stop: a stop
/// request cuts what is left of the budget to the stop grace, so a stop always ends the wait. Used from the training
/// thread only.
/// </remarks>
internal sealed class CallbackRunner(TimeProvider time, CancellationToken stop, TimeSpan stopGrace)
{
    /// <summary>How long the training thread spins for a call to return before it sleeps (~20 µs).</summary>
    private static readonly long SpinTicks = Stopwatch.Frequency / 50_000;

    private readonly TimeProvider _time = time;
    private readonly ManualResetEventSlim _wake = new(false, 1);
    private CallbackThread? _thread;
    private CancellationTokenRegistration _stopRegistration;
    private long _calls;
    /// <summary>When the stop was requested (on <c>time</c>); valid once <see cref="_stopping"/> is set.</summary>
    private long _stopAt;
    private volatile bool _stopping;

    /// <summary>Calls <c>callback.Handle(evt, env)</c> on the callback thread (allocates nothing) and waits for it.</summary>
    public CallResult Handle(IKilnCallback callback, string evt, KernelEnv env, TimeSpan budget)
    {
        var thread = Thread();
        var call = ++_calls;
        var start = _time.GetTimestamp();
        thread.PostHandle(call, callback, evt, env);
        return Wait(thread, call, start, budget);
    }

    /// <summary>Calls <paramref name="action"/> on the callback thread and waits for it.</summary>
    public CallResult Run(Action action, TimeSpan budget)
    {
        var thread = Thread();
        var call = ++_calls;
        var start = _time.GetTimestamp();
        thread.Post(call, action);
        return Wait(thread, call, start, budget);
    }

    /// <summary>Ends the callback thread (the kernel ended); a later call starts another.</summary>
    public void Shutdown()
    {
        _thread?.Quit();
        _thread = null;
        _stopRegistration.Dispose();
        _stopRegistration = default;
    }

    private CallbackThread Thread()
    {
        if (_thread is { } thread) return thread;
        if (stop.CanBeCanceled && _stopRegistration == default)
        {
            _stopRegistration = stop.UnsafeRegister(static state =>
            {
                var runner = (CallbackRunner)state!;
                runner._stopAt = runner._time.GetTimestamp();
                runner._stopping = true;
                runner._wake.Set();
            }, this);
        }
        return _thread = new CallbackThread(_wake);
    }

    private CallResult Wait(CallbackThread thread, long call, long start, TimeSpan budget)
    {
        var spinUntil = Stopwatch.GetTimestamp() + SpinTicks;
        var spinner = new SpinWait();
        while (!thread.HasFinished(call))
        {
            if (Stopwatch.GetTimestamp() >= spinUntil) return Sleep(thread, call, start, budget);
            spinner.SpinOnce(sleep1Threshold: -1);
        }
        return Finished(thread);
    }

    private static CallResult Finished(CallbackThread thread) =>
        thread.TakeError() is { } error ? new CallResult(CallOutcome.Threw, error) : CallResult.Returned;

    private CallResult Sleep(CallbackThread thread, long call, long start, TimeSpan budget)
    {
        var limit = budget;
        var deadline = start + Ticks(budget);
        bool graceGiven = false, cutByStop = false;
        ITimer? timer = null;
        try
        {
            while (true)
            {
                // Reset, look, then sleep: a return, a timer or a stop after the look sets the event, so none is missed.
                _wake.Reset();
                if (thread.HasFinished(call)) return Finished(thread);
                var now = _time.GetTimestamp();
                if (_stopping && !graceGiven)
                {
                    // The grace runs from the stop request, or from the call's start when it began after it.
                    graceGiven = true;
                    var graceEnd = Math.Max(_stopAt, start) + Ticks(stopGrace);
                    if (graceEnd < deadline) (deadline, limit, cutByStop) = (graceEnd, stopGrace, true);
                }
                if (now >= deadline)
                {
                    thread.Abandon();
                    _thread = null;
                    return new CallResult(cutByStop ? CallOutcome.Stopped : CallOutcome.TimedOut, Limit: limit);
                }
                // Armed again on every wake: a timer that fires a little early only wakes this loop to look again.
                var left = TimeSpan.FromSeconds((deadline - now) / (double)_time.TimestampFrequency);
                if (timer is null) timer = _time.CreateTimer(static state => ((ManualResetEventSlim)state!).Set(), _wake, left, Timeout.InfiniteTimeSpan);
                else timer.Change(left, Timeout.InfiniteTimeSpan);
                // A timer counts from when it is armed: had the clock passed the deadline by then, it would fire late.
                if (_time.GetTimestamp() >= deadline) continue;
                _wake.Wait();
            }
        }
        finally
        {
            timer?.Dispose();
        }
    }

    private long Ticks(TimeSpan span) => (long)(Math.Min(span.TotalSeconds, Kiln.Protocol.TimeBudget.MaxSeconds) * _time.TimestampFrequency);
}
