using System.Diagnostics;

namespace Kiln.Train.Compute;

/// <summary>
/// A few long-lived threads that help the caller run the parts of one job. Each part covers a fixed range, so a
/// result never depends on which thread ran which part; parts are claimed first come, first served, so when the
/// helpers are busy elsewhere (another process on the other core) the caller simply runs them itself instead of
/// waiting. When another thread is already using the workers, the job runs inline.
/// </summary>
public static class Workers
{
    private static readonly object Gate = new();
    private static readonly long SpinTicks = Stopwatch.Frequency / 10_000;
    private static Worker[] _workers = [];
    [ThreadStatic] private static bool _inPart;
    private static int _threads = DefaultThreads();

    /// <summary>Threads a job may use, the caller included (default: the processor count, or <c>KILN_THREADS</c>).</summary>
    public static int Threads
    {
        get => _threads;
        set => _threads = Math.Max(1, value);
    }

    private static int DefaultThreads() =>
        int.TryParse(Environment.GetEnvironmentVariable("KILN_THREADS"), out var n) && n > 0 ? n : Environment.ProcessorCount;

    /// <summary>Runs <paramref name="body"/> for parts 0 … <paramref name="parts"/>−1 and returns when all are done.</summary>
    public static void Run(int parts, Action<int> body)
    {
        // A part that starts a job of its own (a convolution's matrix products) runs it inline: the helpers are
        // busy with the outer job, and the caller's lock is reentrant, so offering them more would only reorder work.
        if (parts <= 1 || _threads <= 1 || _inPart || !Monitor.TryEnter(Gate))
        {
            for (var i = 0; i < parts; i++) body(i);
            return;
        }
        try
        {
            var job = new Job(parts, body);
            var helpers = Math.Min(parts, _threads) - 1;
            EnsureWorkers(helpers);
            for (var w = 0; w < helpers; w++) _workers[w].Offer(job);
            job.Work();
            job.WaitAll();
            if (job.Error is { } e) throw new AggregateException("a worker thread failed", e);
        }
        finally
        {
            Monitor.Exit(Gate);
        }
    }

    private static void EnsureWorkers(int count)
    {
        if (_workers.Length >= count) return;
        var grown = new Worker[count];
        Array.Copy(_workers, grown, _workers.Length);
        for (var i = _workers.Length; i < count; i++) grown[i] = new Worker(i);
        _workers = grown;
    }

    private sealed class Job(int parts, Action<int> body)
    {
        private int _next;
        private int _done;

        public Exception? Error { get; private set; }

        /// <summary>Claims and runs parts until none is left.</summary>
        public void Work()
        {
            while (true)
            {
                var part = Interlocked.Increment(ref _next) - 1;
                if (part >= parts) return;
                _inPart = true;
                try
                {
                    body(part);
                }
                catch (Exception ex)
                {
                    Error ??= ex;
                }
                finally
                {
                    _inPart = false;
                }
                Interlocked.Increment(ref _done);
            }
        }

        public void WaitAll()
        {
            while (Volatile.Read(ref _done) < parts) Thread.SpinWait(16);
        }
    }

    private sealed class Worker
    {
        private readonly ManualResetEventSlim _wake = new(false, spinCount: 0);
        private volatile Job? _job;

        public Worker(int index)
        {
            var thread = new Thread(Loop) { IsBackground = true, Name = $"kiln-worker-{index}" };
            thread.Start();
        }

        public void Offer(Job job)
        {
            _job = job;
            _wake.Set();
        }

        private void Loop()
        {
            while (true)
            {
                // Spin before sleeping: within a training step the next job follows within microseconds, and a
                // sleeping thread takes tens of microseconds to wake.
                var until = Stopwatch.GetTimestamp() + SpinTicks;
                while (!_wake.IsSet && Stopwatch.GetTimestamp() < until) Thread.SpinWait(32);
                _wake.Wait();
                _wake.Reset();
                var job = _job;
                _job = null;
                job?.Work();
            }
        }
    }
}
