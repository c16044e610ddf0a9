using Kiln.Execution.Jobs;
using Kiln.Execution.Slurm;
using Kiln.Testing;

namespace Kiln.Execution.Tests;

/// <summary>The Slurm executor against the real single-node cluster of scripts/slurm-up.sh.</summary>
public sealed class SlurmExecutorTests : IDisposable
{
    private readonly TempDir _dir = new("slurm");

    public void Dispose() => _dir.Dispose();

    private SlurmExecutor Executor(SlurmOptions? options = null) =>
        new(options ?? new SlurmOptions { SignalSeconds = 0 }, _dir.Sub(".kiln/jobs")) { FirstPoll = TimeSpan.FromMilliseconds(200), MaxPoll = TimeSpan.FromSeconds(1) };

    private JobSpec Shell(string name, string script, string? marker = null) => new()
    {
        Name = name,
        Argv = ["/bin/sh", "-c", script],
        Env = new Dictionary<string, string> { ["GREETING"] = "it's \"quoted\" $HOME" },
        RunDirectory = _dir.Sub("runs/" + name),
        WorkingDirectory = _dir.Path,
        DoneMarker = marker,
    };

    [SlurmFact]
    public async Task A_batch_runs_as_one_array_each_task_in_its_run_directory_with_its_environment_and_logs()
    {
        await using var slurm = Executor();
        var jobs = Enumerable.Range(0, 3).Select(i => Shell($"job{i}", "echo \"$GREETING|$KILN_RUN_DIR|$KILN_THREADS|$(pwd)\"; echo to-stderr >&2")).ToList();
        var started = new List<string>();
        var handles = slurm.Submit(jobs, h => { lock (started) started.Add(h.Id); });
        var results = await Task.WhenAll(handles.Select(h => slurm.WaitAsync(h)));

        Assert.All(results, r => Assert.Equal(JobState.Completed, r.State));
        var submission = Assert.Single(slurm.Submissions);
        var array = Assert.Single(submission.Arrays);
        Assert.Equal([$"{array.JobId}_0", $"{array.JobId}_1", $"{array.JobId}_2"], handles.Select(h => h.Id));
        Assert.Equal(3, started.Count);
        foreach (var job in jobs)
        {
            var runDir = Path.GetFullPath(job.RunDirectory!);
            Assert.Equal($"it's \"quoted\" $HOME|{runDir}|1|{_dir.Path}\n", File.ReadAllText(Path.Combine(runDir, "stdout.log")));
            Assert.Equal("to-stderr\n", File.ReadAllText(Path.Combine(runDir, "stderr.log")));
        }
        // Recorded for any later process: the record names every task and its run directory.
        var again = SlurmSubmission.Read(submission.Folder);
        Assert.Equal(submission.Arrays, again.Arrays);
        Assert.Equal(jobs.Select(j => Path.GetFullPath(j.RunDirectory!)), again.Tasks.Select(t => t.RunDirectory));
    }

    [SlurmFact]
    public async Task A_batch_larger_than_the_array_limit_is_split_into_several_arrays_and_every_task_runs_once()
    {
        await using var slurm = Executor(new SlurmOptions { SignalSeconds = 0, MaxArraySize = 2 });
        var jobs = Enumerable.Range(0, 5).Select(i => Shell($"split{i}", $"echo {i} >> \"$KILN_RUN_DIR/ran\"")).ToList();
        var handles = slurm.Submit(jobs);
        var results = await Task.WhenAll(handles.Select(h => slurm.WaitAsync(h)));

        Assert.All(results, r => Assert.Equal(JobState.Completed, r.State));
        var submission = Assert.Single(slurm.Submissions);
        Assert.Equal([(0, 2), (2, 2), (4, 1)], submission.Arrays.Select(a => (a.Offset, a.Count)));
        Assert.Equal(3, submission.Arrays.Select(a => a.JobId).Distinct().Count());
        for (var i = 0; i < 5; i++) Assert.Equal($"{i}\n", File.ReadAllText(Path.Combine(jobs[i].RunDirectory!, "ran")));
    }

    [SlurmFact]
    public async Task A_failing_task_fails_alone_with_its_exit_code_and_the_end_of_its_stderr()
    {
        await using var slurm = Executor();
        var handles = slurm.Submit([Shell("bad", "echo 'KeyError: lr' >&2; exit 3"), Shell("good", "true")]);
        var bad = await slurm.WaitAsync(handles[0]);
        var good = await slurm.WaitAsync(handles[1]);

        Assert.Equal(JobState.Failed, bad.State);
        Assert.Equal(3, bad.ExitCode);
        Assert.Contains("FAILED", bad.Error);
        Assert.Contains("KeyError: lr", bad.Error);
        Assert.Equal(JobState.Completed, good.State);
    }

    [SlurmFact]
    public async Task Cancelling_a_running_task_stops_it_and_a_done_marker_skips_a_task()
    {
        await using var slurm = Executor();
        var marker = _dir.File("done.marker");
        File.WriteAllText(marker, "");
        var handles = slurm.Submit([Shell("sleeper", "touch \"$KILN_RUN_DIR/began\"; sleep 300"), Shell("done-before", "touch \"$KILN_RUN_DIR/ran\"", marker)]);
        await Wait.UntilAsync(() => File.Exists(Path.Combine(handles[0].Spec.RunDirectory!, "began")), "the sleeper to start");
        slurm.Cancel(handles[0]);
        var cancelled = await slurm.WaitAsync(handles[0]);
        var skipped = await slurm.WaitAsync(handles[1]);

        Assert.Equal(JobState.Stopped, cancelled.State);
        Assert.Equal("CANCELLED", slurm.SlurmStatus(handles[0])!.State);
        Assert.Equal(JobState.Completed, skipped.State);
        Assert.False(File.Exists(Path.Combine(handles[1].Spec.RunDirectory!, "ran")));
    }

    [SlurmFact]
    public async Task A_task_warned_by_Slurm_is_asked_to_stop_and_requeued_and_its_second_run_completes()
    {
        await using var slurm = Executor(new SlurmOptions { SignalSeconds = 60, Requeue = true });
        // First run: wait for SIGTERM (what the batch script sends on Slurm's warning) and exit 143; the second completes.
        var script = "if [ -e \"$KILN_RUN_DIR/first\" ]; then echo second >> \"$KILN_RUN_DIR/runs\"; exit 0; fi; "
            + "touch \"$KILN_RUN_DIR/first\"; trap 'echo stopped >> \"$KILN_RUN_DIR/runs\"; exit 143' TERM; while :; do sleep 0.1; done";
        var handle = slurm.Submit([Shell("preempted", script)])[0];
        await Wait.UntilAsync(() => File.Exists(Path.Combine(handle.Spec.RunDirectory!, "first")), "the first run to start");
        // The warning Slurm sends signal_seconds before a time limit, sent now to the batch script only.
        SlurmCli.Check("scancel", ["--batch", "--signal=USR1", handle.Id]);
        var result = await slurm.WaitAsync(handle);

        Assert.Equal(JobState.Completed, result.State);
        Assert.Equal("stopped\nsecond\n", File.ReadAllText(Path.Combine(handle.Spec.RunDirectory!, "runs")));
        Assert.True(slurm.SlurmStatus(handle)!.Requeued, "the task's record says it was requeued");
    }

    [SlurmFact]
    public void The_status_of_many_tasks_is_read_with_one_Slurm_call()
    {
        using var jobs = new TempDir("slurm-status");
        var reader = new SlurmStatusReader();
        var slurm = new SlurmExecutor(new SlurmOptions { SignalSeconds = 0, Throttle = 1 }, jobs.Path, reader: reader);
        var handles = slurm.Submit(Enumerable.Range(0, 50).Select(i => Shell($"many{i}", "sleep 30")).ToList());
        try
        {
            var arrays = slurm.Submissions.SelectMany(s => s.Arrays).Select(a => a.JobId).ToList();
            reader.Read(arrays); // learns whether sacct answers
            var before = reader.Calls;
            var states = reader.Read(arrays);
            Assert.Equal(before + 1, reader.Calls);
            Assert.All(handles, h => Assert.True(states.ContainsKey(h.Id), $"{h.Id} has a state"));
        }
        finally
        {
            slurm.Cancel(handles);
            slurm.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    [SlurmFact]
    public async Task An_sbatch_refusal_is_an_error_naming_sbatch_and_what_it_said()
    {
        await using var slurm = Executor(new SlurmOptions { SignalSeconds = 0, Partition = "no-such-partition" });
        var ex = Assert.Throws<SlurmException>(() => slurm.Submit([Shell("x", "true")]));
        Assert.Contains("sbatch", ex.Message);
        Assert.Contains("partition", ex.Message, StringComparison.OrdinalIgnoreCase);
    }
}
