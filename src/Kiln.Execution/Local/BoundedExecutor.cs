using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Kiln.Execution.Jobs;

namespace Kiln.Execution.Local;

/// <summary>
/// The queue both local executors share: at most <c>parallelism</c> jobs run at once, in the order submitted; a job
/// whose done marker exists completes without running (resume); a failed job never stops its siblings; cancelling
/// a queued job keeps it from starting and a running one is asked to stop. Subclasses say how one job runs.
/// </summary>
public abstract class BoundedExecutor : IJobExecutor
{
    private readonly ConcurrentDictionary<string, Entry> _jobs = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<Entry> _queue = new();
    private readonly SemaphoreSlim _available = new(0);
    private readonly CancellationTokenSource _closing = new();
    private readonly Task[] _workers;
    private long _next;

    private sealed class Entry(JobHandle handle, Action<JobHandle>? started)
    {
        public JobHandle Handle { get; } = handle;
        public Action<JobHandle>? Started { get; } = started;
        public TaskCompletionSource<JobResult> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public CancellationTokenSource Cancel { get; } = new();
        public volatile JobState State = JobState.Queued;
    }

    protected BoundedExecutor(int parallelism)
    {
        if (parallelism < 1) throw new ArgumentOutOfRangeException(nameof(parallelism), parallelism, "at least one job at a time");
        Parallelism = parallelism;
        _workers = [.. Enumerable.Range(0, parallelism).Select(_ => Task.Run(WorkAsync))];
    }

    public abstract string Kind { get; }

    /// <summary>Jobs run at the same time, at most.</summary>
    public int Parallelism { get; }

    /// <summary>Runs one job to its end; <paramref name="cancel"/> asks it to stop.</summary>
    protected abstract Task<(JobState State, int? ExitCode, string? Error)> RunAsync(JobSpec spec, CancellationToken cancel);

    public IReadOnlyList<JobHandle> Submit(IReadOnlyList<JobSpec> jobs, Action<JobHandle>? started = null)
    {
        ObjectDisposedException.ThrowIf(_closing.IsCancellationRequested, this);
        var handles = new List<JobHandle>(jobs.Count);
        foreach (var spec in jobs)
        {
            var id = Interlocked.Increment(ref _next).ToString(CultureInfo.InvariantCulture);
            var entry = new Entry(new JobHandle(id, spec), started);
            _jobs[id] = entry;
            _queue.Enqueue(entry);
            _available.Release();
            handles.Add(entry.Handle);
        }
        return handles;
    }

    public JobState Status(JobHandle job) => Find(job).State;

    public void Cancel(JobHandle job)
    {
        var entry = Find(job);
        try { entry.Cancel.Cancel(); }
        catch (ObjectDisposedException) { /* it ended meanwhile */ }
    }

    /// <summary>Cancels every job not finished yet.</summary>
    public void CancelAll()
    {
        foreach (var entry in _jobs.Values) Cancel(entry.Handle);
    }

    public Task<JobResult> WaitAsync(JobHandle job, CancellationToken wait = default) => Find(job).Done.Task.WaitAsync(wait);

    private Entry Find(JobHandle job) =>
        _jobs.TryGetValue(job.Id, out var entry) && ReferenceEquals(entry.Handle.Spec, job.Spec) ? entry
        : throw new ArgumentException($"job {job.Id} ({job.Spec.Name}) was not submitted to this executor", nameof(job));

    private async Task WorkAsync()
    {
        while (true)
        {
            try { await _available.WaitAsync(_closing.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            if (!_queue.TryDequeue(out var entry)) continue;
            await RunEntryAsync(entry).ConfigureAwait(false);
        }
    }

    private async Task RunEntryAsync(Entry entry)
    {
        var spec = entry.Handle.Spec;
        var clock = Stopwatch.StartNew();
        JobResult result;
        if (entry.Cancel.IsCancellationRequested)
        {
            result = new JobResult(entry.Handle, JobState.Stopped, null, null, TimeSpan.Zero);
        }
        else if (spec.IsDone)
        {
            result = new JobResult(entry.Handle, JobState.Completed, null, null, TimeSpan.Zero, AlreadyDone: true);
        }
        else
        {
            entry.State = JobState.Running;
            entry.Started?.Invoke(entry.Handle);
            try
            {
                var (state, exit, error) = await RunAsync(spec, entry.Cancel.Token).ConfigureAwait(false);
                result = new JobResult(entry.Handle, state, exit, error, clock.Elapsed);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // A job that cannot even start (a missing program, a folder it may not write) fails alone.
                result = new JobResult(entry.Handle, JobState.Failed, null, $"{spec.Name}: could not run {spec.Argv.FirstOrDefault()}: {ex.Message}", clock.Elapsed);
            }
        }
        entry.State = result.State;
        entry.Cancel.Dispose();
        entry.Done.TrySetResult(result);
    }

    /// <summary>Cancels what has not finished and waits for every job to end.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_closing.IsCancellationRequested) return;
        CancelAll();
        await Task.WhenAll(_jobs.Values.Select(e => e.Done.Task)).ConfigureAwait(false);
        await _closing.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_workers).ConfigureAwait(false);
        _closing.Dispose();
        _available.Dispose();
        await DisposeCoreAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases what a subclass holds, once every job has ended.</summary>
    protected virtual ValueTask DisposeCoreAsync() => ValueTask.CompletedTask;
}
