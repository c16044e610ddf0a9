namespace Kiln.Train.Compute;

/// <summary>
/// A few long-lived threads that run the parts of one job alongside the caller. Work is split statically
/// (part i always covers the same range), so a result never depends on how many threads ran it. When
/// another thread is already using the workers, the job runs inline.
/// </summary>
public static class Workers
{
    private static readonly object Gate = new();
    private static Worker[] _workers = [];
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
        if (parts <= 1 || _threads <= 1 || !Monitor.TryEnter(Gate))
        {
            for (var i = 0; i < parts; i++) body(i);
            return;
        }
        try
        {
            var helpers = Math.Min(parts, _threads) - 1;
            EnsureWorkers(helpers);
            // Parts are dealt round-robin: the caller takes 0, t, 2t, …; worker w takes w+1, w+1+t, …
            var stride = helpers + 1;
            for (var w = 0; w < helpers; w++) _workers[w].Start(body, w + 1, stride, parts);
            for (var i = 0; i < parts; i += stride) body(i);
            for (var w = 0; w < helpers; w++) _workers[w].Wait();
            for (var w = 0; w < helpers; w++) _workers[w].ThrowIfFailed();
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

    private static readonly long SpinTicks = System.Diagnostics.Stopwatch.Frequency / 2000;

    private sealed class Worker
    {
        private readonly ManualResetEventSlim _wake = new(false, spinCount: 0);
        private Action<int>? _body;
        private int _first, _stride, _parts;
        private volatile bool _done = true;
        private Exception? _error;

        public Worker(int index)
        {
            var thread = new Thread(Loop) { IsBackground = true, Name = $"kiln-worker-{index}" };
            thread.Start();
        }

        public void Start(Action<int> body, int first, int stride, int parts)
        {
            _body = body;
            _first = first;
            _stride = stride;
            _parts = parts;
            _error = null;
            _done = false;
            _wake.Set();
        }

        public void Wait()
        {
            while (!_done) Thread.SpinWait(16);
        }

        public void ThrowIfFailed()
        {
            if (_error is { } e) throw new AggregateException("a worker thread failed", e);
        }

        private void Loop()
        {
            while (true)
            {
                // Spin before sleeping: within a training step the next job follows within microseconds, and a
                // sleeping thread takes tens of microseconds to wake.
                var until = System.Diagnostics.Stopwatch.GetTimestamp() + SpinTicks;
                while (!_wake.IsSet && System.Diagnostics.Stopwatch.GetTimestamp() < until) Thread.SpinWait(32);
                _wake.Wait();
                _wake.Reset();
                try
                {
                    for (var i = _first; i < _parts; i += _stride) _body!(i);
                }
                catch (Exception ex)
                {
                    _error = ex;
                }
                _body = null;
                _done = true;
            }
        }
    }
}
