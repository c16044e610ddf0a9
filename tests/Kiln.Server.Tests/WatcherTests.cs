using Kiln.Protocol;
using Kiln.Server.Live;
using Kiln.Server.Metrics;
using Kiln.Testing;

namespace Kiln.Server.Tests;

/// <summary>One watcher per run, on the server's clock, shared by the metrics store and the event streams.</summary>
public sealed class WatcherTests
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(200);

    [Fact]
    public void The_store_and_a_stream_share_one_watcher_which_stops_when_both_leave()
    {
        using var workspace = new TempDir("watch");
        var dir = FakeRun.Create(workspace.Sub("runs/a"), status: RunInfo.Running, pid: Environment.ProcessId);
        FakeRun.Metrics(dir, 0, 9, s => s);
        var clock = new ManualTimeProvider();
        using var watchers = new RunWatchers(clock, Tick);
        var store = new MetricsStore(watchers: watchers);

        var held = store.Get(dir);
        Assert.True(store.Follows(dir));
        var told = new List<RunChanges>();
        var stream = watchers.Listen(dir, told.Add);
        Assert.Equal(1, watchers.Count);
        Assert.Same(stream.Watcher, watchers.Find(dir));
        Assert.Equal(2, stream.Watcher.Listeners);
        Assert.Equal(1, clock.ActiveTimers);

        // Nothing is looked at until the clock moves; then both hear of the new lines, and the store has read them.
        FakeRun.Metrics(dir, 10, 14, s => s);
        Assert.Empty(told);
        clock.Advance(Tick);
        Assert.Equal([RunChanges.Metrics], told);
        Assert.Equal(15, held.Lines);
        clock.Advance(Tick * 3);
        Assert.Single(told); // a change is told once

        stream.Dispose();
        stream.Dispose(); // leaving twice is leaving once
        Assert.Equal(1, watchers.Count);
        Assert.Equal(1, stream.Watcher.Listeners);

        // The run ends: the store reads its last lines and stops following; nobody listens, so the watcher stops.
        FakeRun.Metrics(dir, 15, 15, s => s);
        FakeRun.Create(dir, status: RunInfo.Completed);
        clock.Advance(Tick);
        Assert.Equal(16, held.Lines);
        Assert.False(store.Follows(dir));
        Assert.Equal(0, watchers.Count);
        Assert.Null(watchers.Find(dir));
        Assert.Equal(0, clock.ActiveTimers);
        Assert.Single(told);
    }

    [Fact]
    public void Each_file_is_told_by_its_own_change_and_a_new_listener_makes_a_new_watcher_after_the_last_left()
    {
        using var workspace = new TempDir("watch");
        var dir = FakeRun.Create(workspace.Sub("runs/a"));
        var clock = new ManualTimeProvider();
        using var watchers = new RunWatchers(clock, Tick);
        var first = new List<RunChanges>();
        var second = new List<RunChanges>();
        using (watchers.Listen(dir, first.Add))
        using (watchers.Listen(dir, second.Add))
        {
            FakeRun.Decide(dir, step: 1);
            clock.Advance(Tick);
            Kiln.IO.AtomicFile.WriteAllText(Path.Combine(dir, RunFiles.Actuators), "{}");
            FakeRun.Metrics(dir, 0, 0, s => s);
            clock.Advance(Tick);
            FakeRun.Create(dir, status: RunInfo.Failed);
            clock.Advance(Tick);
            Assert.Equal([RunChanges.Ledger, RunChanges.Metrics | RunChanges.Actuators, RunChanges.Status], first);
            Assert.Equal(first, second);
        }
        Assert.Equal(0, watchers.Count);
        Assert.Equal(0, clock.ActiveTimers);

        var later = new List<RunChanges>();
        using var again = watchers.Listen(dir, later.Add);
        Assert.Equal(1, clock.ActiveTimers);
        FakeRun.Decide(dir, step: 2);
        clock.Advance(Tick);
        Assert.Equal([RunChanges.Ledger], later);
    }

    [Fact]
    public void A_running_run_whose_process_died_is_told_once_until_its_file_changes()
    {
        using var dead = System.Diagnostics.Process.Start("true")!;
        dead.WaitForExit();
        using var workspace = new TempDir("watch");
        var dir = FakeRun.Create(workspace.Sub("runs/a"), status: RunInfo.Running, pid: dead.Id);
        var clock = new ManualTimeProvider();
        using var watchers = new RunWatchers(clock, Tick);
        var told = new List<RunChanges>();
        using var listening = watchers.Listen(dir, told.Add);
        Assert.False(listening.Watcher.Interrupted);
        clock.Advance(Tick);
        Assert.Equal([RunChanges.Status], told);
        Assert.True(listening.Watcher.Interrupted);
        clock.Advance(Tick * 30);
        Assert.Single(told);

        FakeRun.Create(dir, status: RunInfo.Failed);
        clock.Advance(Tick);
        Assert.Equal([RunChanges.Status, RunChanges.Status], told);
        Assert.False(listening.Watcher.Interrupted);
        clock.Advance(Tick * 30);
        Assert.Equal(2, told.Count);
    }

    [Fact]
    public async Task Over_HTTP_a_run_page_and_the_store_look_at_a_running_run_through_one_watcher()
    {
        await using var host = await ServerHost.StartAsync(w =>
        {
            var a = FakeRun.Create(w.Sub("runs/a"), status: RunInfo.Running, pid: Environment.ProcessId);
            FakeRun.Metrics(a, 0, 9, s => s);
        }, configure: o => o with { WarmRuns = 0 });
        var dir = Path.Combine(host.Workspace.Path, "runs/a");
        var watchers = host.Server.Watchers!;
        Assert.Equal(0, watchers.Count);
        await host.GetOk("/api/run/metrics?run=runs/a");
        Assert.True(host.Server.Metrics!.Follows(dir));
        Assert.Equal(1, watchers.Find(dir)!.Listeners);

        await using (var first = await SseStream.Open(host.Client, "/api/run/events?run=runs/a"))
        await using (var second = await SseStream.Open(host.Client, "/api/run/events?run=runs/a"))
        {
            await Wait.UntilAsync(() => watchers.Find(dir)?.Listeners == 3, "both streams to listen");
            Assert.Equal(1, watchers.Count);
            FakeRun.Metrics(dir, 10, 11, s => s);
            Assert.Equal([10L, 11], (await first.NextNamed("metrics")).Data.AsArray().Select(l => l!["step"]!.GetValue<long>()));
            Assert.Equal([10L, 11], (await second.NextNamed("metrics")).Data.AsArray().Select(l => l!["step"]!.GetValue<long>()));
        }
        await Wait.UntilAsync(() => watchers.Find(dir)?.Listeners == 1, "the closed streams to leave");
        FakeRun.Create(dir, status: RunInfo.Completed);
        await Wait.UntilAsync(() => watchers.Count == 0, "the store to stop following the ended run");
    }
}
