using System.Text.Json.Nodes;
using Kiln.Metrics;
using Kiln.Testing;

namespace Kiln.Core.Tests;

public sealed class MetricsWriterTests
{
    [Fact]
    public void Lines_are_whole_in_order_and_leave_out_non_finite_values()
    {
        using var dir = new TempDir("metrics");
        var path = dir.File("kiln.metrics.jsonl");
        var clock = new ManualTimeProvider();
        using (var writer = new MetricsWriter(path, clock))
        {
            writer.Write(0, 0, "train", [("loss", 2.5), ("lr", 1e-3)]);
            clock.Advance(TimeSpan.FromSeconds(1.5));
            writer.Write(1, null, null, [("loss", double.NaN), ("acc", 0.25), ("inf", double.PositiveInfinity)]);
            writer.Flush();
            var lines = File.ReadAllLines(path);
            Assert.Equal(2, lines.Length);
            Assert.Equal("""{"step":0,"epoch":0,"phase":"train","wall_time":1767225600,"metrics":{"loss":2.5,"lr":0.001}}""", lines[0]);
            Assert.Equal("""{"step":1,"epoch":null,"phase":null,"wall_time":1767225601.5,"metrics":{"acc":0.25}}""", lines[1]);
            writer.Write(2, 0, "val", [("val_loss", 1.0)]);
        }
        Assert.Equal(3, File.ReadAllLines(path).Length);
    }

    [Fact]
    public void Writers_on_several_threads_lose_nothing_and_appending_continues_a_file()
    {
        using var dir = new TempDir("metrics");
        var path = dir.File("kiln.metrics.jsonl");
        File.WriteAllText(path, """{"step":-1,"epoch":null,"phase":null,"wall_time":0,"metrics":{}}""" + "\n");
        using (var writer = new MetricsWriter(path))
        {
            var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
            {
                for (var i = 0; i < 2500; i++) writer.Write(t * 10_000 + i, 0, "train", [("v", i), ("t", t)]);
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
        }
        var steps = File.ReadLines(path).Select(l => (long)JsonNode.Parse(l)!["step"]!).ToList();
        Assert.Equal(10_001, steps.Count);
        Assert.Equal(-1, steps[0]);
        Assert.Equal(10_000, steps.Skip(1).Distinct().Count());
        for (var t = 0; t < 4; t++)
        {
            var mine = steps.Where(s => s >= t * 10_000 && s < t * 10_000 + 2500).ToList();
            Assert.Equal(mine.Order(), mine);
        }
    }

    [Fact]
    public void Writing_after_dispose_is_an_error()
    {
        using var dir = new TempDir("metrics");
        var writer = new MetricsWriter(dir.File("m.jsonl"));
        writer.Dispose();
        Assert.Throws<ObjectDisposedException>(() => writer.Write(0, null, null, [("x", 1)]));
        writer.Dispose();
    }

    [Fact]
    public void A_torn_last_line_left_by_a_killed_writer_is_cut_off_before_new_lines_are_appended()
    {
        using var dir = new TempDir("metrics");
        var path = dir.File("kiln.metrics.jsonl");
        File.WriteAllText(path, """{"step":0,"epoch":null,"phase":null,"wall_time":0,"metrics":{}}""" + "\n" + """{"step":1,"epoch":null,"ph""");
        using (var writer = new MetricsWriter(path)) writer.Write(1, null, null, [("loss", 1.0)]);
        Assert.Equal([0L, 1L], File.ReadLines(path).Select(l => (long)JsonNode.Parse(l)!["step"]!));
    }

    [DevFullFact]
    public void A_write_that_fails_is_said_at_once_and_nothing_more_is_written()
    {
        var told = new List<(MetricsWriterState, string)>();
        using var writer = new MetricsWriter(DevFullFactAttribute.Path, new MetricsWriterOptions { StateChanged = (s, m) => { lock (told) told.Add((s, m)); } });
        writer.Write(0, null, null, [("loss", 1.0)]);
        var ex = Assert.Throws<IOException>(writer.Flush);
        Assert.Equal(MetricsWriterState.Failed, writer.State);
        Assert.Equal("full: No space left on device : '/dev/full'; it has no line of this run, and nothing more is written to it", ex.Message);
        lock (told) Assert.Equal([(MetricsWriterState.Failed, ex.Message)], told);
        writer.Write(1, null, null, [("loss", 1.0)]);
        Assert.Throws<IOException>(writer.Flush);
        Assert.Equal(2, writer.Lost);
    }

    [DevFullFact]
    public async Task A_writer_waiting_for_space_holds_its_writers_until_the_wait_is_given_up()
    {
        using var giveUp = new CancellationTokenSource();
        var told = new List<MetricsWriterState>();
        using var writer = new MetricsWriter(DevFullFactAttribute.Path, new MetricsWriterOptions
        {
            WaitForSpace = () => true, RetryInterval = TimeSpan.FromMilliseconds(10), GiveUp = giveUp.Token,
            StateChanged = (s, _) => { lock (told) told.Add(s); },
        });
        writer.Write(0, null, null, [("loss", 1.0)]);
        var flushed = Task.Run(writer.Flush);
        await Wait.UntilAsync(() => writer.State == MetricsWriterState.WaitingForSpace || flushed.IsCompleted, "the writer to wait for space");
        Assert.Equal(MetricsWriterState.WaitingForSpace, writer.State);
        var second = Task.Run(() => writer.Write(1, null, null, [("loss", 2.0)]));
        Assert.False(flushed.IsCompleted);

        await giveUp.CancelAsync();
        await second;
        var ex = await Assert.ThrowsAsync<IOException>(() => flushed);
        Assert.Contains("No space left on device", ex.Message);
        Assert.Equal(MetricsWriterState.Failed, writer.State);
        lock (told) Assert.Equal([MetricsWriterState.WaitingForSpace, MetricsWriterState.Failed], told);
    }

    [DevFullFact]
    public async Task Disposing_a_writer_that_waits_for_space_gives_the_wait_up_and_Flush_then_says_it_failed()
    {
        var writer = new MetricsWriter(DevFullFactAttribute.Path, new MetricsWriterOptions { WaitForSpace = () => true, RetryInterval = TimeSpan.FromHours(1) });
        writer.Write(0, null, null, [("loss", 1.0)]);
        await Wait.UntilAsync(() => writer.State == MetricsWriterState.WaitingForSpace, "the writer to wait for space");
        writer.Dispose();
        Assert.Equal(MetricsWriterState.Failed, writer.State);
        Assert.Contains("No space left on device", Assert.Throws<IOException>(writer.Flush).Message);
    }
}
