using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Kiln.Modules.Callbacks;

/// <summary>
/// The thread callbacks' code runs on, one call at a time, while the training thread waits for it
/// (<see cref="CallbackRunner"/>). A thread whose call did not return in time is abandoned: .NET cannot stop a thread,
/// so it runs on, but it is never handed another call, it ends if its call ever returns, and what it still asks of the
/// run through its env (<see cref="KernelEnv.Emit"/>, <see cref="KernelEnv.RequestStop"/>) is ignored.
/// </summary>
internal sealed class CallbackThread
{
    /// <summary>After a call the thread spins this long for the next one (~50 µs): safe points back to back find it awake.</summary>
    private static readonly long SpinTicks = Stopwatch.Frequency / 20_000;

    [ThreadStatic] private static CallbackThread? _current;

    private readonly ManualResetEventSlim _work = new(false, 1);
    private readonly ManualResetEventSlim _finishedSignal;
    private Action? _action;
    private IKilnCallback? _callback;
    private string _evt = "";
    private KernelEnv? _env;
    private Exception? _error;
    private long _posted;
    private long _finished;
    private volatile bool _abandoned;
    private volatile bool _quit;

    /// <param name="finished">Set after every call, for the waiting training thread.</param>
    public CallbackThread(ManualResetEventSlim finished)
    {
        _finishedSignal = finished;
        // A background thread: one stuck in a callback never keeps the process from exiting.
        new Thread(Loop) { IsBackground = true, Name = "kiln-callbacks" }.Start();
    }

    /// <summary>Whether the calling thread is a callback thread that was walked away from.</summary>
    public static bool CurrentIsAbandoned => _current is { _abandoned: true };

    /// <summary>Hands the thread <c>callback.Handle(evt, env)</c> as call number <paramref name="call"/> (allocates nothing).</summary>
    public void PostHandle(long call, IKilnCallback callback, string evt, KernelEnv env)
    {
        _callback = callback;
        _evt = evt;
        _env = env;
        Post(call);
    }

    /// <summary>Hands the thread <paramref name="action"/> as call number <paramref name="call"/>.</summary>
    public void Post(long call, Action action)
    {
        _action = action;
        Post(call);
    }

    private void Post(long call)
    {
        Volatile.Write(ref _posted, call);
        _work.Set();
    }

    public bool HasFinished(long call) => Volatile.Read(ref _finished) == call;

    /// <summary>What the finished call threw, or null; read once, after <see cref="HasFinished"/>.</summary>
    public Exception? TakeError()
    {
        var error = _error;
        _error = null;
        return error;
    }

    /// <summary>The training thread walked away from the current call: this thread gets no other.</summary>
    public void Abandon()
    {
        _abandoned = true;
        _work.Set();
    }

    /// <summary>Ends the thread once it is idle (the kernel ended).</summary>
    public void Quit()
    {
        _quit = true;
        _work.Set();
    }

    private void Loop()
    {
        _current = this;
        long taken = 0;
        while (true)
        {
            var call = WaitForCall(taken);
            if (call == 0) return;
            taken = call;
            var error = Invoke();
            if (_abandoned) return;
            _error = error;
            Volatile.Write(ref _finished, call);
            _finishedSignal.Set();
        }
    }

    /// <summary>Runs the posted call. Its references are cleared first, so an idle thread keeps no unloaded callback alive.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private Exception? Invoke()
    {
        var action = _action;
        var callback = _callback;
        var env = _env;
        _action = null;
        _callback = null;
        _env = null;
        try
        {
            if (action is not null) action();
            else callback!.Handle(_evt, env!);
            return null;
        }
        catch (Exception ex)
        {
            return ex;
        }
    }

    /// <summary>The next call's number, or 0 when the thread should end: spins briefly, then sleeps until posted to.</summary>
    private long WaitForCall(long taken)
    {
        var spinUntil = Stopwatch.GetTimestamp() + SpinTicks;
        var spinner = new SpinWait();
        while (true)
        {
            if (_quit || _abandoned) return 0;
            var posted = Volatile.Read(ref _posted);
            if (posted != taken) return posted;
            if (Stopwatch.GetTimestamp() < spinUntil)
            {
                spinner.SpinOnce(sleep1Threshold: -1);
                continue;
            }
            // Reset, look again, then sleep: a post after the look sets the event, so it is never missed.
            _work.Reset();
            if (_quit || _abandoned || Volatile.Read(ref _posted) != taken) continue;
            _work.Wait();
        }
    }
}
