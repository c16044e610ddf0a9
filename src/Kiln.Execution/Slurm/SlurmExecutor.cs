using System.Collections.Concurrent;
using System.Globalization;
using Kiln.Execution.Jobs;
using Kiln.IO;

namespace Kiln.Execution.Slurm;

/// <summary>
/// Runs jobs as tasks of Slurm job arrays: one <c>sbatch --array=0-N%T</c> per batch (several when the batch is larger
/// than the cluster's <c>MaxArraySize</c>), each task finding its job in the batch's manifest by
/// <c>SLURM_ARRAY_TASK_ID</c>. The submission is recorded under the jobs folder (<see cref="SlurmSubmission"/>), so
/// other processes reattach to it later; disposing the executor stops following the tasks, never the tasks. Status
/// comes from one batched Slurm call per poll (<see cref="SlurmStatusReader"/>), polled with backoff while anything
/// waits.
/// </summary>
public sealed class SlurmExecutor : IJobExecutor
{
    private readonly SlurmOptions _options;
    private readonly string _jobsDir;
    private readonly TimeProvider _time;
    private readonly SlurmStatusReader _reader;
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly List<SlurmSubmission> _submissions = [];
    private readonly CancellationTokenSource _closing = new();
    private readonly Lock _pollGate = new();
    private Task? _poller;

    private sealed class Entry(JobHandle handle, Action<JobHandle>? started, long submittedAt)
    {
        public JobHandle Handle { get; } = handle;
        public Action<JobHandle>? Started { get; } = started;
        public long SubmittedAt { get; } = submittedAt;
        public TaskCompletionSource<JobResult> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public volatile SlurmTaskState? Last;
        public bool ToldStarted;
        public int Missing;
    }

    public SlurmExecutor(SlurmOptions options, string jobsDir, TimeProvider? time = null, SlurmStatusReader? reader = null)
    {
        _options = options;
        _jobsDir = Path.GetFullPath(jobsDir);
        _time = time ?? TimeProvider.System;
        _reader = reader ?? new SlurmStatusReader();
    }

    public string Kind => "slurm";

    /// <summary>The first wait between polls, and after any change; it doubles while nothing changes, up to <see cref="MaxPoll"/>.</summary>
    public TimeSpan FirstPoll { get; init; } = TimeSpan.FromMilliseconds(250);

    public TimeSpan MaxPoll { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Polls in a row in which Slurm no longer knows a task before it counts as lost.</summary>
    public int MissingPolls { get; init; } = 3;

    /// <summary>What this executor submitted, in order.</summary>
    public IReadOnlyList<SlurmSubmission> Submissions { get { lock (_submissions) return [.. _submissions]; } }

    /// <summary>The reader the poller asks (its <see cref="SlurmStatusReader.Calls"/> count the Slurm calls made).</summary>
    public SlurmStatusReader Reader => _reader;

    public IReadOnlyList<JobHandle> Submit(IReadOnlyList<JobSpec> jobs, Action<JobHandle>? started = null)
    {
        ObjectDisposedException.ThrowIf(_closing.IsCancellationRequested, this);
        if (jobs.Count == 0) return [];
        var cpus = _options.CpusPerTask ?? jobs.Max(j => j.Threads);
        var memory = jobs.Max(j => j.MemoryMb);
        var id = _time.GetUtcNow().ToString("yyyyMMdd-HHmmss-fff", CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..6];
        var folder = Path.Combine(_jobsDir, id);
        Directory.CreateDirectory(folder);
        var manifest = Path.Combine(folder, SlurmSubmission.ManifestFile);
        AtomicFile.WriteAllText(manifest, string.Join('\n', jobs.Select(j => SlurmScript.ManifestLine(j, cpus))) + "\n");
        var script = Path.Combine(folder, SlurmSubmission.ScriptFile);
        AtomicFile.WriteAllText(script, SlurmScript.Batch(manifest, _options.Requeue));
        var tasks = jobs.Select((j, i) => new SlurmTask(i, j.Name, j.RunDirectory is null ? null : Path.GetFullPath(j.RunDirectory),
            j.LogFolder is null ? null : Path.GetFullPath(j.LogFolder))).ToList();

        var perArray = ArrayLimit();
        var arrays = new List<SlurmArray>();
        SlurmSubmission Record() => new(id, folder, _time.GetUtcNow(), [.. arrays], tasks);
        try
        {
            for (var offset = 0; offset < jobs.Count; offset += perArray)
            {
                var count = Math.Min(perArray, jobs.Count - offset);
                var throttle = _options.Throttle is { } t ? "%" + t.ToString(CultureInfo.InvariantCulture) : "";
                string[] args =
                [
                    "--parsable", $"--array=0-{count - 1}{throttle}",
                    $"--export=ALL,KILN_ARRAY_OFFSET={offset}",
                    "--output=" + Path.Combine(folder, "slurm-%A_%a.out"),
                    .. _options.SbatchArguments(cpus, memory),
                    script,
                ];
                var answer = SlurmCli.Check("sbatch", args).Trim();
                var jobId = answer.Split(';')[0].Trim();
                if (jobId.Length == 0 || !jobId.All(char.IsAsciiDigit)) throw new SlurmException($"sbatch answered '{answer}' instead of a job id");
                arrays.Add(new SlurmArray(jobId, offset, count));
            }
        }
        finally
        {
            // Even a batch sbatch refused half-way is recorded: what was submitted can be followed and cancelled.
            if (arrays.Count > 0) Record().Write();
        }
        var submission = Record();
        lock (_submissions) _submissions.Add(submission);
        var now = _time.GetTimestamp();
        var handles = new List<JobHandle>(jobs.Count);
        for (var i = 0; i < jobs.Count; i++)
        {
            var handle = new JobHandle(submission.SlurmId(i)!, jobs[i]);
            _entries[handle.Id] = new Entry(handle, started, now);
            handles.Add(handle);
        }
        EnsurePolling();
        return handles;
    }

    /// <summary>Tasks per array: the cluster's <c>MaxArraySize</c> (indices run to MaxArraySize − 1), or less when the options say so.</summary>
    public int ArrayLimit()
    {
        var cluster = SlurmCli.Config().TryGetValue("MaxArraySize", out var text) && int.TryParse(text, out var max) && max > 0 ? max : 1001;
        return Math.Max(1, Math.Min(cluster, _options.MaxArraySize ?? int.MaxValue));
    }

    public JobState Status(JobHandle job) => Find(job).Last?.Kind ?? JobState.Queued;

    /// <summary>Slurm's own view of the job (<c>PENDING</c>, <c>RUNNING (requeued)</c>, …), as of the last poll.</summary>
    public SlurmTaskState? SlurmStatus(JobHandle job) => Find(job).Last;

    public void Cancel(JobHandle job) => Cancel([job]);

    /// <summary>One <c>scancel</c> for all of them.</summary>
    public void Cancel(IReadOnlyList<JobHandle> jobs)
    {
        var ids = jobs.Select(j => Find(j)).Where(e => !e.Done.Task.IsCompleted).Select(e => e.Handle.Id).ToList();
        if (ids.Count > 0) SlurmCli.Check("scancel", ids);
    }

    public Task<JobResult> WaitAsync(JobHandle job, CancellationToken wait = default) => Find(job).Done.Task.WaitAsync(wait);

    private Entry Find(JobHandle job) =>
        _entries.TryGetValue(job.Id, out var entry) && ReferenceEquals(entry.Handle.Spec, job.Spec) ? entry
        : throw new ArgumentException($"job {job.Id} ({job.Spec.Name}) was not submitted to this executor", nameof(job));

    private void EnsurePolling()
    {
        lock (_pollGate)
        {
            _poller ??= Task.Run(PollAsync);
        }
    }

    private async Task PollAsync()
    {
        var delay = FirstPoll;
        while (!_closing.IsCancellationRequested)
        {
            List<Entry> open;
            lock (_pollGate)
            {
                // Under the gate: a submission either sees this poller go (and starts another) or is seen by it.
                open = _entries.Values.Where(e => !e.Done.Task.IsCompleted).ToList();
                if (open.Count == 0)
                {
                    _poller = null;
                    return;
                }
            }
            try { await Task.Delay(delay, _time, _closing.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            bool changed;
            try
            {
                changed = PollOnce(open);
            }
            catch (SlurmException)
            {
                // The controller is busy or restarting: ask again later, never give up on tasks that still run.
                changed = false;
            }
            delay = changed ? FirstPoll : TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxPoll.Ticks));
        }
    }

    private bool PollOnce(List<Entry> open)
    {
        var states = _reader.Read(open.Select(e => SlurmStatusReader.ArrayOf(e.Handle.Id)).Distinct(StringComparer.Ordinal).ToList());
        var changed = false;
        foreach (var entry in open)
        {
            var state = states.GetValueOrDefault(entry.Handle.Id);
            if (state is null)
            {
                if (++entry.Missing < MissingPolls) continue;
                entry.Last = SlurmTaskState.Unknown;
                Finish(entry, new JobResult(entry.Handle, JobState.Failed, null,
                    $"Slurm no longer knows task {entry.Handle.Id} and keeps no record of its end (no accounting, no jobcomp file)", Elapsed(entry)));
                changed = true;
                continue;
            }
            entry.Missing = 0;
            if (state != entry.Last) changed = true;
            entry.Last = state;
            if (state.Kind == JobState.Running && !entry.ToldStarted)
            {
                entry.ToldStarted = true;
                entry.Started?.Invoke(entry.Handle);
            }
            if (!state.Ended) continue;
            if (!entry.ToldStarted && state.Kind != JobState.Stopped)
            {
                // It ran between two polls.
                entry.ToldStarted = true;
                entry.Started?.Invoke(entry.Handle);
            }
            string? error = state.Kind == JobState.Failed ? $"Slurm {state.State}{(state.ExitCode is { } c ? $" (exit {c})" : "")}{Tail(entry.Handle.Spec)}" : null;
            Finish(entry, new JobResult(entry.Handle, state.Kind, state.ExitCode, error, Elapsed(entry)));
        }
        return changed;
    }

    private TimeSpan Elapsed(Entry entry) => _time.GetElapsedTime(entry.SubmittedAt);

    private static void Finish(Entry entry, JobResult result) => entry.Done.TrySetResult(result);

    /// <summary>The last lines of the task's stderr.log, to say why it failed.</summary>
    private static string Tail(JobSpec spec)
    {
        if (spec.LogFolder is not { } folder) return "";
        var path = Path.Combine(folder, "stderr.log");
        try
        {
            if (!File.Exists(path)) return "";
            var lines = File.ReadLines(path).TakeLast(5).Where(l => l.Length > 0).ToList();
            return lines.Count == 0 ? "" : ": " + string.Join(" | ", lines);
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>Stops following the tasks; they go on running on the cluster.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_closing.IsCancellationRequested) return;
        await _closing.CancelAsync().ConfigureAwait(false);
        Task? poller;
        lock (_pollGate) poller = _poller;
        if (poller is not null) await poller.ConfigureAwait(false);
        _closing.Dispose();
    }
}
