using Kiln.IO;
using Kiln.Protocol;
using Kiln.Runs;
using Kiln.Testing;

namespace Kiln.Core.Tests;

/// <summary>The one reader of kiln.run.json never says a dead run is running.</summary>
public sealed class RunStateTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static double Seconds(DateTimeOffset t) => t.ToUnixTimeMilliseconds() / 1000.0;

    private static string Write(TempDir tmp, string name, RunInfo info)
    {
        var dir = tmp.Sub(name);
        AtomicFile.WriteJson(Path.Combine(dir, RunFiles.Run), info.ToJson());
        return dir;
    }

    private static RunInfo Running(int? pid, string? host, double? heartbeat) => new()
    {
        Id = "r", Kind = "run", Status = RunInfo.Running, Pid = pid, Host = host, Heartbeat = heartbeat,
    };

    private static int DeadPid()
    {
        using var p = System.Diagnostics.Process.Start("true")!;
        p.WaitForExit();
        return p.Id;
    }

    [Fact]
    public void A_running_run_on_this_host_is_running_while_its_process_lives_and_interrupted_after()
    {
        using var tmp = new TempDir("state");
        var clock = new ManualTimeProvider();
        var beat = Seconds(clock.GetUtcNow());
        var alive = Write(tmp, "alive", Running(Environment.ProcessId, Environment.MachineName, beat));
        var dead = Write(tmp, "dead", Running(DeadPid(), Environment.MachineName, beat));
        var legacy = Write(tmp, "legacy", Running(Environment.ProcessId, null, null));
        Assert.Equal(RunInfo.Running, RunState.Read(alive, clock)!.Status);
        Assert.Equal(RunInfo.Interrupted, RunState.Read(dead, clock)!.Status);
        Assert.Equal(RunInfo.Running, RunState.Read(legacy, clock)!.Status);
    }

    [Fact]
    public void A_live_pid_that_does_not_hold_the_run_s_lock_is_someone_else_s_and_the_run_is_interrupted()
    {
        using var tmp = new TempDir("state");
        // The pid was reused (or the process is a zombie): the lock file is there, but nobody holds it.
        var reused = Write(tmp, "reused", Running(Environment.ProcessId, Environment.MachineName, null));
        File.WriteAllText(Path.Combine(reused, KilnRun.LockFile), "");
        Assert.Equal(RunInfo.Interrupted, RunState.Read(reused)!.Status);

        using var run = KilnRun.Start(tmp.Sub("held"), new RunOptions { StopOnSignals = false, Log = _ => { }, GitDirectory = null });
        Assert.Equal(RunInfo.Running, RunState.Read(run.Dir)!.Status);
        run.End();
    }

    [Fact]
    public void A_heartbeat_that_stopped_means_interrupted_even_when_the_pid_is_in_use()
    {
        using var tmp = new TempDir("state");
        var clock = new ManualTimeProvider();
        var dir = Write(tmp, "r", Running(Environment.ProcessId, Environment.MachineName, Seconds(clock.GetUtcNow())));
        clock.Advance(RunState.StaleAfter - TimeSpan.FromSeconds(1));
        Assert.Equal(RunInfo.Running, RunState.Read(dir, clock)!.Status);
        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(RunInfo.Interrupted, RunState.Read(dir, clock)!.Status);
    }

    [Fact]
    public void Another_host_s_run_lives_by_its_heartbeat_alone()
    {
        using var tmp = new TempDir("state");
        var clock = new ManualTimeProvider();
        var fresh = Write(tmp, "fresh", Running(1, "node-17", Seconds(clock.GetUtcNow())));
        var none = Write(tmp, "none", Running(1, "node-17", null));
        Assert.Equal(RunInfo.Running, RunState.Read(fresh, clock)!.Status);
        Assert.Equal(RunInfo.Interrupted, RunState.Read(none, clock)!.Status);
        clock.Advance(RunState.StaleAfter + TimeSpan.FromSeconds(1));
        Assert.Equal(RunInfo.Interrupted, RunState.Read(fresh, clock)!.Status);
    }

    [Fact]
    public void A_trial_that_wrote_its_batch_log_before_dying_reads_completed()
    {
        using var tmp = new TempDir("state");
        var dir = Write(tmp, "trial", Running(DeadPid(), Environment.MachineName, null));
        File.WriteAllText(Path.Combine(dir, RunFiles.BatchLog), "epoch,mode,batch,loss\n");
        Assert.Equal(RunInfo.Completed, RunState.Read(dir)!.Status);
    }

    [Fact]
    public void Ended_runs_are_read_as_written_and_a_damaged_record_is_named()
    {
        using var tmp = new TempDir("state");
        var dir = Write(tmp, "done", Running(DeadPid(), Environment.MachineName, null) with { Status = RunInfo.Failed, Error = "boom" });
        Assert.Equal((RunInfo.Failed, "boom"), (RunState.Read(dir)!.Status, RunState.Read(dir)!.Error));

        var bad = tmp.Sub("bad");
        File.WriteAllText(Path.Combine(bad, RunFiles.Run), "{\"id\": \"x\", \"kind\": ");
        Assert.False(RunState.TryRead(bad, out var info, out var error));
        Assert.Null(info);
        Assert.Contains(RunFiles.Run, error);

        Assert.False(RunState.TryRead(tmp.Sub("empty"), out _, out var none));
        Assert.Null(none);
    }
}
