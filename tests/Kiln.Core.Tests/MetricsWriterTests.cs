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
}
