using System.Net;
using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Testing;
using Kiln.Server.Metrics;

namespace Kiln.Server.Tests;

/// <summary>Metric series over HTTP: names, downsampling, ranges, appends read incrementally, bad lines, compare.</summary>
public sealed class MetricsApiTests
{
    private static double[] Doubles(JsonNode? a) => a!.AsArray().Select(x => x!.GetValue<double>()).ToArray();
    private static long[] Longs(JsonNode? a) => a!.AsArray().Select(x => x!.GetValue<long>()).ToArray();

    [Fact]
    public async Task Names_count_points_and_series_are_downsampled_to_the_points_asked()
    {
        await using var host = await ServerHost.StartAsync(w =>
        {
            var dir = FakeRun.Create(w.Sub("runs/a"));
            FakeRun.Metrics(dir, 0, 99_999, s => s == 50_000 ? 1e9 : 1.0 / (s + 1));
            FakeRun.Metrics(dir, 0, 99, s => s / 100.0, name: "val_acc");
        });
        var names = await host.GetOk("/api/run/metric-names?run=runs/a");
        Assert.Equal(100_000, names["names"]!["loss"]!.GetValue<int>());
        Assert.Equal(100, names["names"]!["val_acc"]!.GetValue<int>());

        var answer = await host.GetOk("/api/run/metrics?run=runs/a&names=loss&points=500");
        Assert.Equal(100_100, answer["lines"]!.GetValue<long>());
        Assert.Null(answer["series"]!["val_acc"]);
        var loss = answer["series"]!["loss"]!;
        Assert.Equal(100_000, loss["points"]!.GetValue<int>());
        var steps = Longs(loss["steps"]);
        Assert.InRange(steps.Length, 400, 501);
        Assert.Equal((0L, 99_999L), (steps[0], steps[^1]));
        Assert.Equal(1.0, Doubles(loss["last"])[0]);
        Assert.Equal(1e9, Doubles(loss["max"]).Max());

        var whole = await host.GetOk("/api/run/metrics?run=runs/a&names=val_acc");
        Assert.Equal(100, Longs(whole["series"]!["val_acc"]!["steps"]).Length);
    }

    [Fact]
    public async Task A_run_of_many_metrics_opens_with_its_losses_accuracies_and_lr_and_the_rest_on_request()
    {
        await using var host = await ServerHost.StartAsync(w =>
        {
            var many = FakeRun.Create(w.Sub("runs/many"));
            foreach (var name in new[] { "val_loss", "train_loss", "LR", "lr", "Accuracy", "grad_norm", "lr_backbone" })
                FakeRun.Metrics(many, 0, 9, s => s, name);
            for (var i = 0; i < 300; i++) FakeRun.Metrics(many, 0, 9, s => s * i, $"layer{i:000}.mean_loss_scale");
            var plain = FakeRun.Create(w.Sub("runs/plain"));
            foreach (var name in new[] { "e", "d", "c", "b", "a" }) FakeRun.Metrics(plain, 0, 4, s => s, name);
        });
        // At most six: losses and accuracies by name (any case), lr only by its whole name, top-level names first; in name order.
        var names = await host.GetOk("/api/run/metric-names?run=runs/many");
        Assert.Equal(307, names["names"]!.AsObject().Count);
        var defaults = names["default"]!.AsArray().Select(n => n!.GetValue<string>()).ToArray();
        Assert.Equal(["Accuracy", "LR", "layer000.mean_loss_scale", "lr", "train_loss", "val_loss"], defaults);
        var first = await host.GetOk("/api/run/metrics?run=runs/many&pick=default&points=1000");
        Assert.Equal(defaults, first["series"]!.AsObject().Select(kv => kv.Key));
        // Names given win over pick; no pick (or pick=all) is every series.
        var named = await host.GetOk("/api/run/metrics?run=runs/many&names=grad_norm&pick=default");
        Assert.Equal(["grad_norm"], named["series"]!.AsObject().Select(kv => kv.Key));
        Assert.Equal(307, (await host.GetOk("/api/run/metrics?run=runs/many&pick=all"))["series"]!.AsObject().Count);
        // Without any such name, the first four.
        var plain = await host.GetOk("/api/run/metric-names?run=runs/plain");
        Assert.Equal(["a", "b", "c", "d"], plain["default"]!.AsArray().Select(n => n!.GetValue<string>()));
        var (status, body) = await host.Get("/api/run/metrics?run=runs/many&pick=some");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("pick", body!["error"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_metrics_file_that_cannot_be_read_gets_an_error_naming_it()
    {
        await using var host = await ServerHost.StartAsync(w => Directory.CreateDirectory(Path.Combine(FakeRun.Create(w.Sub("runs/odd")), RunFiles.Metrics)));
        var (status, body) = await host.Get("/api/run/metrics?run=runs/odd");
        Assert.Equal(HttpStatusCode.InternalServerError, status);
        Assert.Contains("cannot read the run's files", body!["error"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains(RunFiles.Metrics, body["error"]!.GetValue<string>(), StringComparison.Ordinal);
        // The server goes on serving.
        Assert.Equal(HttpStatusCode.OK, (await host.Get("/api/runs")).Status);
    }

    [Fact]
    public async Task A_range_zooms_in()
    {
        await using var host = await ServerHost.StartAsync(w => FakeRun.Metrics(FakeRun.Create(w.Sub("runs/a")), 0, 9_999, s => s));
        var answer = await host.GetOk("/api/run/metrics?run=runs/a&from=100&to=199&points=1000");
        var loss = answer["series"]!["loss"]!;
        Assert.Equal(Enumerable.Range(100, 100).Select(i => (long)i), Longs(loss["steps"]));
        Assert.Equal(100, loss["points"]!.GetValue<int>());
    }

    [Fact]
    public async Task Appended_lines_are_read_on_the_next_request_and_a_torn_line_waits_for_its_end()
    {
        await using var host = await ServerHost.StartAsync(w => FakeRun.Metrics(FakeRun.Create(w.Sub("runs/a")), 0, 9, s => s));
        var path = Path.Combine(host.Workspace.Path, "runs/a", RunFiles.Metrics);
        var first = await host.GetOk("/api/run/metrics?run=runs/a");
        Assert.Equal(new FileInfo(path).Length, first["offset"]!.GetValue<long>());
        Assert.Equal(10, first["series"]!["loss"]!["points"]!.GetValue<int>());

        File.AppendAllText(path, "{\"step\":10,\"metrics\":{\"loss\":10}}\n{\"step\":11,\"metr");
        var second = await host.GetOk("/api/run/metrics?run=runs/a");
        Assert.Equal(11, second["series"]!["loss"]!["points"]!.GetValue<int>());
        Assert.Equal(new FileInfo(path).Length - "{\"step\":11,\"metr".Length, second["offset"]!.GetValue<long>());

        File.AppendAllText(path, "ics\":{\"loss\":11,\"acc\":0.5}}\n");
        var third = await host.GetOk("/api/run/metrics?run=runs/a");
        Assert.Equal(12, third["series"]!["loss"]!["points"]!.GetValue<int>());
        Assert.Equal([11L], Longs(third["series"]!["acc"]!["steps"]));
    }

    [Fact]
    public async Task Bad_lines_and_non_numbers_are_skipped_and_the_rest_is_drawn()
    {
        await using var host = await ServerHost.StartAsync(w =>
        {
            var dir = FakeRun.Create(w.Sub("runs/a"));
            File.WriteAllText(Path.Combine(dir, RunFiles.Metrics),
                "{\"step\":0,\"metrics\":{\"loss\":1}}\n" +
                "not json\n" +
                "{\"metrics\":{\"loss\":5}}\n" +                                 // no step
                "{\"step\":1,\"metrics\":{\"loss\":\"high\",\"acc\":0.5}}\n" +    // a string value
                "{\"step\":2,\"metrics\":{\"loss\":2,\"hist\":[1,2],\"x\":{\"y\":1}}}\n" +
                "{\"metrics\":{\"loss\":3},\"step\":3,\"wall\":1.5}\n");         // keys in another order
        });
        var answer = await host.GetOk("/api/run/metrics?run=runs/a");
        Assert.Equal([0L, 2, 3], Longs(answer["series"]!["loss"]!["steps"]));
        Assert.Equal([1.0, 2, 3], Doubles(answer["series"]!["loss"]!["last"]));
        Assert.Equal([1L], Longs(answer["series"]!["acc"]!["steps"]));
        Assert.Null(answer["series"]!["hist"]);
    }

    [Fact]
    public async Task A_run_without_metrics_has_no_series()
    {
        await using var host = await ServerHost.StartAsync(w => FakeRun.Create(w.Sub("runs/a")));
        var answer = await host.GetOk("/api/run/metrics?run=runs/a");
        Assert.Empty(answer["series"]!.AsObject());
        Assert.Empty((await host.GetOk("/api/run/metric-names?run=runs/a"))["names"]!.AsObject());
    }

    [Fact]
    public async Task Compare_overlays_one_metric_and_says_which_runs_lack_it()
    {
        await using var host = await ServerHost.StartAsync(w =>
        {
            FakeRun.Metrics(FakeRun.Create(w.Sub("out/t0")), 0, 999, s => 1.0 / (s + 1), name: "val_loss");
            FakeRun.Metrics(FakeRun.Create(w.Sub("out/t1")), 0, 499, s => 2.0 / (s + 1), name: "val_loss");
            FakeRun.Metrics(FakeRun.Create(w.Sub("out/t2")), 0, 9, s => s);
        });
        var answer = await host.GetOk("/api/compare?runs=out/t0,out/t1,out/t2&metric=val_loss&points=100");
        Assert.Equal("val_loss", answer["metric"]!.GetValue<string>());
        Assert.Equal(1000, answer["runs"]!["out/t0"]!["points"]!.GetValue<int>());
        Assert.Equal(2.0, Doubles(answer["runs"]!["out/t1"]!["last"])[0]);
        Assert.True(answer["runs"]!.AsObject().ContainsKey("out/t2"));
        Assert.Null(answer["runs"]!["out/t2"]);

        Assert.Equal(HttpStatusCode.BadRequest, (await host.Get("/api/compare?runs=out/t0")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await host.Get("/api/compare?metric=loss")).Status);
        var (status, body) = await host.Get("/api/compare?runs=out/t0,out/nope&metric=loss");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Contains("out/nope", body!["error"]!.GetValue<string>(), StringComparison.Ordinal);
        var many = string.Join(',', Enumerable.Repeat("out/t0", 51));
        Assert.Equal(HttpStatusCode.BadRequest, (await host.Get($"/api/compare?runs={many}&metric=loss")).Status);
    }
}

/// <summary>A large metrics file the server has not read: answered at once from a sample of its lines, then whole.</summary>
public sealed class PreviewTests
{
    private static long[] Longs(JsonNode? a) => a!.AsArray().Select(x => x!.GetValue<long>()).ToArray();
    private static double[] Doubles(JsonNode? a) => a!.AsArray().Select(x => x!.GetValue<double>()).ToArray();

    private static Task<ServerHost> Start(Action<Kiln.Testing.TempDir> populate) =>
        ServerHost.StartAsync(populate, configure: o => o with { PreviewBytes = 1 << 20, WarmRuns = 0 });

    [Fact]
    public async Task The_first_answer_is_a_preview_with_the_first_and_last_lines_and_later_ones_are_whole()
    {
        const double Spike = 1e9;
        await using var host = await Start(w =>
        {
            var dir = FakeRun.Create(w.Sub("runs/big"));
            FakeRun.Metrics(dir, 0, 199_999, s => s == 123_457 ? Spike : 1.0 / (s + 1));
            FakeRun.Metrics(FakeRun.Create(w.Sub("runs/small")), 0, 99, s => s);
            FakeRun.Metrics(FakeRun.Create(w.Sub("runs/other")), 0, 99_999, s => s, name: "val_acc");
        });
        var names = await host.GetOk("/api/run/metric-names?run=runs/other");
        Assert.True(names["partial"]!.GetValue<bool>());
        Assert.Null(names["names"]!["val_acc"]);
        Assert.Equal(["val_acc"], names["default"]!.AsArray().Select(n => n!.GetValue<string>()));
        var path = Path.Combine(host.Workspace.Path, "runs/big", RunFiles.Metrics);

        // The first request for a run not read is answered from the preview (later ones may find it read whole).
        var first = await host.GetOk("/api/run/metrics?run=runs/big&pick=default&points=1000");
        Assert.True(first["partial"]!.GetValue<bool>());
        Assert.Null(first["lines"]);
        Assert.Equal(new FileInfo(path).Length, first["offset"]!.GetValue<long>());
        var loss = first["series"]!["loss"]!;
        var sampled = loss["points"]!.GetValue<int>();
        Assert.InRange(sampled, 1000, MetricsPreview.Lines + 1);
        var steps = Longs(loss["steps"]);
        Assert.Equal((0L, 199_999L), (steps[0], steps[^1]));
        Assert.Equal(steps.Order(), steps);
        // Sampled lines are read exactly: each drawn value is its step's (the spike aside, if it was sampled).
        Assert.All(steps.Zip(Doubles(loss["last"])), p => Assert.Equal(p.First == 123_457 ? Spike : 1.0 / (p.First + 1), p.Second));

        // A small file is read whole at once.
        Assert.False((await host.GetOk("/api/run/metrics?run=runs/small"))["partial"]!.GetValue<bool>());

        // The whole file is read in the background; then the answers are exact, spike and all.
        var whole = await Wait.UntilAsync(() => host.GetOk("/api/run/metric-names?run=runs/big"), a => !a["partial"]!.GetValue<bool>(), "the whole file to be read", seconds: 30);
        Assert.Equal(200_000, whole["names"]!["loss"]!.GetValue<int>());
        var full = await host.GetOk("/api/run/metrics?run=runs/big&points=1000");
        Assert.False(full["partial"]!.GetValue<bool>());
        Assert.Equal(200_000, full["lines"]!.GetValue<long>());
        Assert.Equal(200_000, full["series"]!["loss"]!["points"]!.GetValue<int>());
        Assert.Equal(Spike, Doubles(full["series"]!["loss"]!["max"]).Max());
    }

    [Fact]
    public async Task Compare_draws_a_large_run_from_its_preview_until_it_is_read_whole()
    {
        await using var host = await Start(w =>
        {
            FakeRun.Metrics(FakeRun.Create(w.Sub("runs/big")), 0, 99_999, s => s);
            FakeRun.Metrics(FakeRun.Create(w.Sub("runs/small")), 0, 99, s => s);
        });
        var first = await host.GetOk("/api/compare?runs=runs/big,runs/small&metric=loss&points=100");
        Assert.True(first["partial"]!.GetValue<bool>());
        Assert.InRange(first["runs"]!["runs/big"]!["points"]!.GetValue<int>(), 100, MetricsPreview.Lines + 1);
        Assert.Equal(100, first["runs"]!["runs/small"]!["points"]!.GetValue<int>());
        var answer = await Wait.UntilAsync(() => host.GetOk("/api/compare?runs=runs/big,runs/small&metric=loss&points=100"),
            a => !a["partial"]!.GetValue<bool>(), "the whole file to be read", seconds: 30);
        Assert.Equal(100_000, answer["runs"]!["runs/big"]!["points"]!.GetValue<int>());
    }

    [Fact]
    public void A_preview_reads_each_line_once_skips_a_torn_end_and_takes_fewer_long_lines()
    {
        using var dir = new Kiln.Testing.TempDir("preview");
        var path = dir.File(RunFiles.Metrics);
        File.WriteAllText(path, string.Concat(Enumerable.Range(0, 100).Select(s => $"{{\"step\":{s},\"metrics\":{{\"loss\":{s}}}}}\n")) + "{\"step\":100,\"metr");
        var few = MetricsPreview.Read(path);
        Assert.Equal(Enumerable.Range(0, 100).Select(s => (long)s), few.Series["loss"].Steps.ToArray());
        Assert.Equal(100, few.Sampled);
        Assert.Equal(new FileInfo(path).Length - "{\"step\":100,\"metr".Length, few.Offset);

        // Lines of 2,000 metrics (about 40 KB): far fewer lines are sampled, the first and last among them.
        var wide = dir.File("wide.jsonl");
        using (var writer = new StreamWriter(wide))
        {
            for (var s = 0; s < 1000; s++)
                writer.Write($"{{\"step\":{s},\"metrics\":{{{string.Join(',', Enumerable.Range(0, 2000).Select(m => $"\"m{m:0000}\":{s}"))}}}}}\n");
        }
        var preview = MetricsPreview.Read(wide);
        Assert.Equal(2000, preview.Series.Count);
        Assert.InRange(preview.Sampled, 16, 200);
        Assert.Equal((0L, 999L), (preview.Series["m0000"].Steps[0], preview.Series["m1999"].Steps[^1]));
    }
}

/// <summary>The parsed metrics the server holds stay within a memory budget.</summary>
public sealed class MetricsBudgetTests
{
    [Fact]
    public void Past_its_budget_the_store_lets_go_of_the_runs_viewed_longest_ago_and_reads_them_again_when_asked()
    {
        using var workspace = new Kiln.Testing.TempDir("budget");
        var dirs = new[] { "a", "b", "c" }.Select(n =>
        {
            var dir = FakeRun.Create(workspace.Sub("runs/" + n));
            FakeRun.Metrics(dir, 0, 9_999, s => s * 0.5);
            return dir;
        }).ToArray();
        var one = new MetricsStore().Get(dirs[0]).Bytes;
        Assert.InRange(one, 10_000 * 16, 40_000 * 16);
        var store = new MetricsStore(capacity: 64, budgetBytes: one * 5 / 2);

        foreach (var dir in dirs) store.Get(dir);
        Assert.Equal([false, true, true], dirs.Select(store.Holds));
        var again = store.Get(dirs[0]);
        Assert.Equal(10_000, again.Series["loss"].Count);
        Assert.Equal(4999.5, again.Series["loss"].Values[^1]);
        Assert.Equal([true, false, true], dirs.Select(store.Holds));
    }
}

/// <summary>The server reads the metrics of the most recently written runs when it starts.</summary>
public sealed class WarmupTests
{
    [Fact]
    public async Task The_most_recently_written_runs_are_read_at_start_and_the_others_when_asked()
    {
        using var workspace = new Kiln.Testing.TempDir("warm");
        var dirs = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var dir = FakeRun.Create(workspace.Sub($"runs/r{i}"));
            FakeRun.Metrics(dir, 0, 99, s => s);
            File.SetLastWriteTimeUtc(Path.Combine(dir, RunFiles.Metrics), new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddHours(i));
            dirs.Add(dir);
        }
        FakeRun.Create(workspace.Sub("runs/no-metrics"));
        await using var server = await Hosting.KilnServer.StartAsync(new Hosting.ServerOptions { Root = workspace.Path, Port = 0, WarmRuns = 3 });
        await server.Warmup.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal([false, false, true, true, true], dirs.Select(server.Metrics!.Holds));
        Assert.False(server.Metrics.Holds(Path.Combine(workspace.Path, "runs/no-metrics")));
    }
}
