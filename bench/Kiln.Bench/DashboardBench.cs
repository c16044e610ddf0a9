using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Kiln.Metrics;
using Kiln.Protocol;
using Kiln.Server.Hosting;
using Kiln.Server.Metrics;

namespace Kiln.Bench;

/// <summary>
/// The dashboard's server side (DESIGN.md §7: a run with 10⁶ metric points draws its first chart within 0.5 s):
/// the first and later metric answers of a 10⁶-point run over HTTP, an append read incrementally, the downsampler
/// alone, and the runs list of 10,000 runs.
/// </summary>
internal static class DashboardBench
{
    public static async Task Run(int points, int runs)
    {
        var root = Path.Combine(Path.GetTempPath(), "kiln-bench-dashboard-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var dir = Path.Combine(root, "runs", "big");
            WriteRun(dir, points);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# a run of {points:N0} steps x 3 metrics ({new FileInfo(Path.Combine(dir, RunFiles.Metrics)).Length / 1e6:0} MB), {runs:N0} runs listed"));
            // No warm-up here: the first answers below are for runs the server has not read.
            await using var server = await KilnServer.StartAsync(new ServerOptions { Root = root, Port = 0, WarmRuns = 0 });
            using var client = new HttpClient { BaseAddress = new Uri(server.Url) };
            var query = "/api/run/metrics?run=runs/big&names=loss&points=1000";

            var clock = Stopwatch.StartNew();
            var first = JsonNode.Parse(await client.GetStringAsync(query))!;
            var preview = clock.Elapsed.TotalMilliseconds;
            if (first["partial"]?.GetValue<bool>() != true) throw new InvalidOperationException("the first answer for a large run should come from its preview");
            var whole = await WholeAnswer(client, query);
            var wholeMs = clock.Elapsed.TotalMilliseconds;
            if (whole["series"]!["loss"]!["points"]!.GetValue<int>() != points) throw new InvalidOperationException("the metrics answer lacks points");
            if (whole["series"]!["loss"]!["max"]!.AsArray().Max(v => v!.GetValue<double>()) < 1e3) throw new InvalidOperationException("the spike was lost");
            Figures.Print("dashboard.metrics_first_answer", preview, "ms", $"from a preview ({first["series"]!["loss"]!["points"]} lines sampled across the file) while the server reads it whole; TensorBoard/Aim: slow here (no figure measured)");
            Figures.Print("dashboard.metrics_whole_answer", wholeMs, "ms", "the whole 10^6-point file parsed and downsampled to 1000 buckets, spikes kept (asked every 10 ms)");

            // Another run as large, opened in the server now running: what a user opening a second big run waits for.
            var other = Path.Combine(root, "runs", "big2");
            Directory.CreateDirectory(other);
            foreach (var f in Directory.GetFiles(dir)) File.Copy(f, Path.Combine(other, Path.GetFileName(f)));
            clock.Restart();
            _ = await client.GetStringAsync("/api/run/metrics?run=runs/big2&names=loss&points=1000");
            var previewAgain = clock.Elapsed.TotalMilliseconds;
            _ = await WholeAnswer(client, "/api/run/metrics?run=runs/big2&names=loss&points=1000");
            Figures.Print("dashboard.metrics_whole_answer_running_server", clock.Elapsed.TotalMilliseconds, "ms",
                string.Create(CultureInfo.InvariantCulture, $"the same for a second run of that size (its preview: {previewAgain:0} ms)"));

            var warm = new List<double>();
            for (var i = 0; i < 30; i++)
            {
                clock.Restart();
                _ = await client.GetStringAsync(query);
                warm.Add(clock.Elapsed.TotalMilliseconds);
            }
            warm.Sort();
            Figures.Print("dashboard.metrics_later_answer_p50", Figures.Percentile(warm, 50), "ms", "parsed once; later answers downsample only");
            var all = new List<double>();
            for (var i = 0; i < 10; i++)
            {
                clock.Restart();
                _ = await client.GetStringAsync("/api/run/metrics?run=runs/big&points=1000");
                all.Add(clock.Elapsed.TotalMilliseconds);
            }
            all.Sort();
            Figures.Print("dashboard.metrics_three_series_p50", Figures.Percentile(all, 50), "ms");

            AppendSteps(dir, points, 1000);
            clock.Restart();
            _ = await client.GetStringAsync(query);
            Figures.Print("dashboard.metrics_after_1000_appended", clock.Elapsed.TotalMilliseconds, "ms", "reads only the appended lines");

            var parses = new List<double>();
            for (var i = 0; i < 3; i++)
            {
                clock.Restart();
                new MetricsReader(Path.Combine(dir, RunFiles.Metrics)).Read();
                parses.Add(clock.Elapsed.TotalMilliseconds);
            }
            parses.Sort();
            Figures.Print("dashboard.parse_metrics_file", parses[0], "ms", string.Create(CultureInfo.InvariantCulture,
                $"best of 3, {new FileInfo(Path.Combine(dir, RunFiles.Metrics)).Length / 1e6 / (parses[0] / 1000):0} MB/s"));

            var steps = Enumerable.Range(0, points).Select(i => (long)i).ToArray();
            var values = steps.Select(s => Math.Exp(-s / 1e5)).ToArray();
            var samples = new List<double>();
            for (var i = 0; i < 20; i++)
            {
                clock.Restart();
                _ = Downsampler.Sample(steps, values, ordered: true, null, null, 1000);
                samples.Add(clock.Elapsed.TotalMilliseconds);
            }
            samples.Sort();
            Figures.Print("dashboard.downsample_1e6_to_1000_p50", Figures.Percentile(samples, 50), "ms");

            var copies = await FirstChartInBrowser(server.Url, dir, root);

            WriteRuns(Path.Combine(root, "sweep"), runs);
            clock.Restart();
            var list = JsonNode.Parse(await client.GetStringAsync("/api/runs?sort=loss&order=asc&size=50"))!;
            var listCold = clock.Elapsed.TotalMilliseconds;
                        if (list["total"]!.GetValue<int>() != runs + 2 + copies) throw new InvalidOperationException($"listed {list["total"]} runs, expected {runs + 2 + copies}");
            Figures.Print("dashboard.runs_list_first", listCold, "ms", $"walks and summarizes {runs:N0} runs");
            var listWarm = new List<double>();
            for (var i = 0; i < 20; i++)
            {
                clock.Restart();
                _ = await client.GetStringAsync("/api/runs?sort=loss&order=asc&size=50&page=3&filter=trial");
                listWarm.Add(clock.Elapsed.TotalMilliseconds);
            }
            listWarm.Sort();
            Figures.Print("dashboard.runs_list_later_p50", Figures.Percentile(listWarm, 50), "ms", "filter, sort by a metric, one page; summaries cached by file stamp");
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>
    /// The page of a 10⁶-step run the server has not read yet, opened in Debian's chromium: from the start of navigation
    /// to the first chart drawn with its points (page, scripts, uPlot, metric names, the downsampled series, drawing),
    /// as the page's own Performance API mark says. The browser's floor on this machine is the <c>page</c> suite's.
    /// </summary>
    /// <returns>How many copies of the run it made (runs the list then holds).</returns>
    private static async Task<int> FirstChartInBrowser(string url, string bigRun, string root)
    {
        if (!File.Exists(PageLoadBench.Chromium))
        {
            Console.WriteLine($"# {PageLoadBench.Chromium} is missing (scripts/setup.sh installs it): the first chart in the browser is not measured");
            return 0;
        }
        using var playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        await using var browser = await PageLoadBench.LaunchAsync(playwright);
        var times = new List<double>();
        var whole = new List<double>();
        for (var i = 0; i < 3; i++)
        {
            var id = $"runs/fresh{i}";
            var copy = Path.Combine(root, id);
            Directory.CreateDirectory(copy);
            foreach (var f in Directory.GetFiles(bigRun)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
            var phases = await PageLoadBench.OpenAsync(browser, $"{url}#/run?run={Uri.EscapeDataString(id)}");
            times.Add(phases.FirstChart);
            whole.Add(phases.WholeChart);
        }
        // A server started on this workspace reads its most recently written runs at once: their pages draw from memory.
        await using var restarted = await KilnServer.StartAsync(new ServerOptions { Root = root, Port = 0 });
        var warming = Stopwatch.StartNew();
        await restarted.Warmup;
        var warmed = warming.Elapsed.TotalMilliseconds;
        var again = new List<double>();
        for (var i = 0; i < 3; i++)
        {
            again.Add((await PageLoadBench.OpenAsync(browser, $"{restarted.Url}#/run?run=runs%2Ffresh{i}")).FirstChart);
        }
        Figures.Print("dashboard.first_chart_in_browser_run_read", again.Min(), "ms", string.Create(CultureInfo.InvariantCulture,
            $"a run the server read at start (its 8 newest: {warmed / 1000:0.0} s in the background), best of 3 (all: {string.Join(", ", again.Select(t => t.ToString("0", CultureInfo.InvariantCulture)))}); target <= 500 ms"));
        Figures.Print("dashboard.first_chart_in_browser", times.Min(), "ms",
            string.Create(CultureInfo.InvariantCulture, $"chromium, a 10^6-step run the server has not read yet, drawn from its preview, best of 3 (all: {string.Join(", ", times.Select(t => t.ToString("0", CultureInfo.InvariantCulture)))}); target <= 500 ms"));
        Figures.Print("dashboard.whole_chart_in_browser", whole.Min(), "ms",
            string.Create(CultureInfo.InvariantCulture, $"the same page once the server has read the whole file (every spike drawn), best of 3 (all: {string.Join(", ", whole.Select(t => t.ToString("0", CultureInfo.InvariantCulture)))})"));
        return times.Count;
    }

    /// <summary>Asks until the answer is no longer a preview.</summary>
    private static async Task<JsonNode> WholeAnswer(HttpClient client, string query)
    {
        for (;;)
        {
            var answer = JsonNode.Parse(await client.GetStringAsync(query))!;
            if (answer["partial"]?.GetValue<bool>() != true) return answer;
            await Task.Delay(10);
        }
    }

    private static void WriteRun(string dir, int points)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, RunFiles.Run), new RunInfo { Id = "big", Kind = "launch", Config = "simple", Status = RunInfo.Completed, Start = 1 }.ToJson().ToJsonString());
        using var writer = new StreamWriter(Path.Combine(dir, RunFiles.Metrics), false, new UTF8Encoding(false), 1 << 20);
        WriteSteps(writer, 0, points, spike: points / 3 + 7);
    }

    private static void AppendSteps(string dir, int from, int count)
    {
        using var writer = new StreamWriter(Path.Combine(dir, RunFiles.Metrics), true, new UTF8Encoding(false), 1 << 16);
        WriteSteps(writer, from, count, spike: -1);
    }

    /// <summary>Steps as the metrics writer writes them; one step's loss is a spike the downsampled chart must keep.</summary>
    private static void WriteSteps(StreamWriter writer, int from, int count, int spike)
    {
        var random = new Random(from);
        for (var s = from; s < from + count; s++)
        {
            var loss = Math.Exp(-s / 1e5) + 0.05 * random.NextDouble() + (s == spike ? 1e4 : 0);
            writer.Write(string.Create(CultureInfo.InvariantCulture,
                $"{{\"step\":{s},\"epoch\":{s / 1000},\"phase\":\"train\",\"wall_time\":{1.7e9 + s * 0.01:0.00},\"metrics\":{{\"loss\":{loss:R},\"lr\":{0.1 / (1 + s / 1e5):R},\"grad_norm\":{1 + random.NextDouble():R}}}}}\n"));
        }
    }

    private static void WriteRuns(string root, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var dir = Path.Combine(root, $"leaf_{i / 100:000}", $"trial_{i % 100:000}");
            Directory.CreateDirectory(dir);
            var info = new RunInfo
            {
                Id = $"trial_{i}", Kind = "trial", Config = "cfg", Status = RunInfo.Completed, Start = 1000 + i, End = 2000 + i,
                Params = new JsonObject { ["lr"] = 1e-3 * (1 + i % 10) },
                Metrics = new JsonObject { ["loss"] = 1.0 / (1 + i), ["acc"] = i / (double)count },
            };
            File.WriteAllText(Path.Combine(dir, RunFiles.Run), info.ToJson().ToJsonString());
            File.WriteAllText(Path.Combine(dir, "kiln.trial.json"), $"{{\"swept\":{{\"lr\":{1e-3 * (1 + i % 10):R}}}}}");
        }
    }
}
