using System.Globalization;
using Kiln.Execution.Jobs;
using Kiln.Execution.Local;
using Kiln.Runs;
using Kiln.Testing;

namespace Kiln.Execution.Tests;

/// <summary>The local pool with real child processes: bounds, logs, failures, resume, cancellation and process groups.</summary>
public sealed class LocalProcessPoolTests
{
    private static LocalProcessPool Pool(int parallelism, TimeSpan? grace = null) =>
        new(new LocalPoolOptions { Parallelism = parallelism, FollowSignals = false, StopGrace = grace ?? TimeSpan.FromSeconds(30) });

    private static JobSpec Sh(string name, string script, string? runDir = null, string? done = null) => new()
    {
        Name = name, Argv = ["/bin/sh", "-c", script], RunDirectory = runDir, DoneMarker = done,
    };

    private static async Task<IReadOnlyList<JobResult>> All(IJobExecutor pool, IEnumerable<JobHandle> jobs) =>
        await Task.WhenAll(jobs.Select(j => pool.WaitAsync(j)));

    [Fact]
    public async Task At_most_parallelism_jobs_run_at_once_and_they_start_in_the_order_submitted()
    {
        using var tmp = new TempDir("pool");
        var log = tmp.File("events");
        await using var pool = Pool(2);
        var jobs = pool.Submit([.. Enumerable.Range(0, 6).Select(i => Sh($"j{i}", $"echo start {i} >> '{log}'; sleep 0.2; echo end {i} >> '{log}'"))]);
        var results = await All(pool, jobs);
        Assert.All(results, r => Assert.Equal(JobState.Completed, r.State));

        var running = 0;
        var most = 0;
        var starts = new List<int>();
        foreach (var line in File.ReadAllLines(log))
        {
            var parts = line.Split(' ');
            if (parts[0] == "start") { running++; starts.Add(int.Parse(parts[1], CultureInfo.InvariantCulture)); }
            else running--;
            most = Math.Max(most, running);
        }
        Assert.Equal(2, most);
        // Two slots: a job can only start before the ones submitted ahead of it by racing them to the file.
        Assert.Equal([0, 1], starts.Take(2).Order());
        Assert.Equal([2, 3, 4, 5], starts.Skip(2).Order());
    }

    [Fact]
    public async Task A_job_s_output_goes_to_its_logs_and_it_is_told_its_run_directory_threads_and_runner()
    {
        using var tmp = new TempDir("pool");
        var run = Path.Combine(tmp.Path, "run");
        await using var pool = Pool(1);
        var job = pool.Submit([Sh("env", "echo out; echo err >&2; echo \"$KILN_RUN_DIR|$KILN_THREADS|$KILN_PARENT_PID|$EXTRA\"", run) with
        {
            Threads = 3, Env = new Dictionary<string, string> { ["EXTRA"] = "x" },
        }])[0];
        var result = await pool.WaitAsync(job);
        Assert.Equal((JobState.Completed, 0), (result.State, result.ExitCode));
        var stdout = File.ReadAllLines(Path.Combine(run, "stdout.log"));
        Assert.Equal("out", stdout[0]);
        Assert.Equal($"{Path.GetFullPath(run)}|3|{Environment.ProcessId}|x", stdout[1]);
        Assert.Equal("err", File.ReadAllText(Path.Combine(run, "stderr.log")).Trim());
    }

    [Fact]
    public async Task A_failing_job_is_reported_with_its_exit_code_and_stderr_while_its_siblings_complete()
    {
        using var tmp = new TempDir("pool");
        await using var pool = Pool(2);
        var jobs = pool.Submit(
        [
            Sh("bad", "echo loading >&2; echo 'KeyError: lr' >&2; exit 3", tmp.Sub("bad")),
            Sh("good", "true", tmp.Sub("good")),
            new JobSpec { Name = "missing", Argv = [tmp.File("no-such-program")], RunDirectory = tmp.Sub("missing") },
        ]);
        var results = await All(pool, jobs);
        Assert.Equal((JobState.Failed, 3), (results[0].State, results[0].ExitCode));
        Assert.Equal("exited with code 3: loading | KeyError: lr", results[0].Error);
        Assert.Equal(JobState.Completed, results[1].State);
        Assert.Equal(JobState.Failed, results[2].State);
        Assert.Contains("no-such-program", results[2].Error);
        Assert.Equal(JobState.Failed, pool.Status(jobs[0]));
    }

    [Fact]
    public async Task A_job_whose_done_marker_exists_is_not_run_again()
    {
        using var tmp = new TempDir("pool");
        var done = tmp.File("batch_log.csv");
        File.WriteAllText(done, "epoch\n");
        await using var pool = Pool(1);
        var started = new List<string>();
        var jobs = pool.Submit([Sh("done", $"touch '{tmp.File("ran")}'", done: done), Sh("todo", "true", done: tmp.File("missing"))], h => started.Add(h.Spec.Name));
        var results = await All(pool, jobs);
        Assert.True(results[0].AlreadyDone);
        Assert.Equal(JobState.Completed, results[0].State);
        Assert.False(File.Exists(tmp.File("ran")));
        Assert.Equal(["todo"], started);
    }

    [Fact]
    public async Task Cancelling_stops_a_running_job_with_everything_it_started_and_a_queued_one_never_starts()
    {
        using var tmp = new TempDir("pool");
        var childPid = tmp.File("child.pid");
        await using var pool = Pool(1);
        var started = new List<string>();
        var jobs = pool.Submit([Sh("long", $"sleep 1000 & echo $! > '{childPid}'; wait"), Sh("next", "true")], h => { lock (started) started.Add(h.Spec.Name); });
        await Wait.UntilAsync(() => File.Exists(childPid) && File.ReadAllText(childPid).EndsWith('\n'), "the job's own child to start");
        var child = int.Parse(File.ReadAllText(childPid).Trim(), CultureInfo.InvariantCulture);
        pool.Cancel(jobs[1]);
        pool.Cancel(jobs[0]);
        var results = await All(pool, jobs);
        Assert.Equal(JobState.Stopped, results[0].State);
        Assert.Equal(JobState.Stopped, results[1].State);
        Assert.Equal(["long"], started);
        await Wait.UntilAsync(() => !Processes.IsAlive(child), "the job's child to be stopped with it");
    }

    [Fact]
    public async Task A_job_that_ignores_the_stop_request_is_killed_after_the_grace_period()
    {
        using var tmp = new TempDir("pool");
        var ready = tmp.File("ready");
        await using var pool = Pool(1, grace: TimeSpan.FromMilliseconds(300));
        var job = pool.Submit([Sh("stubborn", $"trap '' TERM; touch '{ready}'; while true; do sleep 0.05; done")])[0];
        await Wait.UntilAsync(() => File.Exists(ready), "the job to ignore SIGTERM");
        pool.Cancel(job);
        var result = await pool.WaitAsync(job);
        Assert.Equal(JobState.Stopped, result.State);
    }

    [Fact]
    public async Task KillAll_ends_every_running_job_at_once()
    {
        using var tmp = new TempDir("pool");
        await using var pool = Pool(2);
        var jobs = pool.Submit([Sh("a", $"touch '{tmp.File("a")}'; trap '' TERM; sleep 1000"), Sh("b", $"touch '{tmp.File("b")}'; sleep 1000")]);
        await Wait.UntilAsync(() => File.Exists(tmp.File("a")) && File.Exists(tmp.File("b")), "both jobs to start");
        pool.KillAll();
        var results = await All(pool, jobs);
        Assert.All(results, r => Assert.Equal(JobState.Stopped, r.State));
    }

    [Fact]
    public async Task The_in_process_executor_shares_the_queue_and_maps_exit_codes()
    {
        var seen = 0;
        var most = 0;
        await using var executor = new InProcessExecutor(2, (job, stop) =>
        {
            var now = Interlocked.Increment(ref seen);
            for (var m = Volatile.Read(ref most); now > m; m = Volatile.Read(ref most)) Interlocked.CompareExchange(ref most, now, m);
            Thread.Sleep(20);
            Interlocked.Decrement(ref seen);
            return job.Name == "bad" ? 2 : 0;
        });
        var jobs = executor.Submit([.. Enumerable.Range(0, 5).Select(i => new JobSpec { Name = i == 3 ? "bad" : $"ok{i}", Argv = ["x"] })]);
        var results = await All(executor, jobs);
        Assert.Equal([JobState.Completed, JobState.Completed, JobState.Completed, JobState.Failed, JobState.Completed], results.Select(r => r.State));
        Assert.InRange(most, 1, 2);
        Assert.Equal("in-process", executor.Kind);
    }

    [Fact]
    public async Task A_handle_from_another_executor_is_refused()
    {
        await using var a = Pool(1);
        await using var b = Pool(1);
        var job = a.Submit([Sh("x", "true")])[0];
        Assert.Throws<ArgumentException>(() => b.Status(job));
        await a.WaitAsync(job);
    }
}
