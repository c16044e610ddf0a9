using System.Globalization;
using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Server.Hosting;
using Microsoft.Playwright;

namespace Kiln.Bench;

/// <summary>
/// What the browser itself costs on this machine: the run page of a 100-step run (nothing to parse, a few points to
/// draw) opened again and again in Debian's chromium, with the phases the page marks — the document parsed, the
/// page's scripts running (<c>kiln:app</c>), the run's first answers in hand (<c>kiln:data</c>), the first chart.
/// </summary>
internal static class PageLoadBench
{
    public const string Chromium = "/usr/bin/chromium";

    public static async Task Run(int loads, string? trace = null)
    {
        if (!File.Exists(Chromium))
        {
            Console.WriteLine($"# {Chromium} is missing (scripts/setup.sh installs it): the page load is not measured");
            return;
        }
        var root = Path.Combine(Path.GetTempPath(), "kiln-bench-page-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            WriteTinyRun(Path.Combine(root, "runs", "tiny"), 100);
            await using var server = await KilnServer.StartAsync(new ServerOptions { Root = root, Port = 0 });
            using var playwright = await Playwright.CreateAsync();
            await using var browser = await LaunchAsync(playwright);
            if (trace is not null)
            {
                await TraceAsync(browser, $"{server.Url}#/run?run=runs%2Ftiny", trace);
                return;
            }
            var phases = new List<Phases>();
            for (var i = 0; i < loads + 1; i++)
            {
                var p = await OpenAsync(browser, $"{server.Url}#/run?run=runs%2Ftiny");
                if (i > 0) phases.Add(p); // the first load warms the server's answers
            }
            string Line(Func<Phases, double> pick) =>
                string.Create(CultureInfo.InvariantCulture, $"min {phases.Min(pick):0}, median {Figures.Percentile(phases.Select(pick).Order().ToList(), 50):0}");
            Figures.Print("page.first_chart_tiny_run", Figures.Percentile(phases.Select(p => p.FirstChart).Order().ToList(), 50), "ms",
                $"median of {loads} loads in chromium of a 100-step run's page ({Line(p => p.FirstChart)}): the floor under the 10^6-point figure");
            Console.WriteLine($"# document parsed: {Line(p => p.Parsed)} ms; scripts running: {Line(p => p.App)} ms; first answers in hand: {Line(p => p.Data)} ms");
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }

    public static Task<IBrowser> LaunchAsync(IPlaywright playwright) => playwright.Chromium.LaunchAsync(new()
    {
        ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });

    /// <summary>
    /// How long a new page is left alone before it loads the dashboard: a new Chromium window loads its own WebUI
    /// (hundreds of chrome:// modules) for a second or so, which on two cores would be timed as the dashboard's.
    /// </summary>
    public static readonly TimeSpan Settle = TimeSpan.FromSeconds(1.5);

    /// <summary>The phases of one page load, in ms from the start of navigation.</summary>
    public sealed record Phases(double Parsed, double App, double Data, double FirstChart, double WholeChart);

    /// <summary>Opens <paramref name="url"/> in a new page, waits for its first chart with points and reads the page's marks.</summary>
    public static async Task<Phases> OpenAsync(IBrowser browser, string url)
    {
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1440, Height = 900 } });
        try
        {
            await Task.Delay(Settle);
            await page.GotoAsync(url);
            await page.WaitForFunctionAsync("() => performance.getEntriesByName('kiln:first-chart').length > 0", null, new() { Timeout = 60_000, PollingInterval = 20 });
            // A chart drawn from the server's preview of a large file fills in when the file is read whole.
            await page.WaitForFunctionAsync("() => performance.getEntriesByName('kiln:whole-chart').length > 0 || !document.querySelector('[data-testid=charts][data-partial]')",
                null, new() { Timeout = 60_000, PollingInterval = 20 });
            var marks = JsonNode.Parse(await page.EvaluateAsync<string>("""
                () => JSON.stringify({
                  parsed: performance.getEntriesByType('navigation')[0].domInteractive,
                  app: performance.getEntriesByName('kiln:app')[0]?.startTime ?? -1,
                  data: performance.getEntriesByName('kiln:data')[0]?.startTime ?? -1,
                  chart: performance.getEntriesByName('kiln:first-chart')[0].startTime,
                  whole: (performance.getEntriesByName('kiln:whole-chart')[0] ?? performance.getEntriesByName('kiln:first-chart')[0]).startTime })
                """))!;
            return new Phases((double)marks["parsed"]!, (double)marks["app"]!, (double)marks["data"]!, (double)marks["chart"]!, (double)marks["whole"]!);
        }
        finally
        {
            await page.CloseAsync();
        }
    }

    /// <summary>
    /// One load recorded as a Chrome trace (open it in Perfetto or chrome://tracing), and the renderer main thread's
    /// busiest kinds of work before the first chart printed.
    /// </summary>
    private static async Task TraceAsync(IBrowser browser, string url, string path)
    {
        _ = await OpenAsync(browser, url); // warm the server's answers
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1440, Height = 900 } });
        var cdp = await page.Context.NewCDPSessionAsync(page);
        var events = new JsonArray();
        var complete = new TaskCompletionSource();
        cdp.Event("Tracing.dataCollected").OnEvent += (_, e) =>
        {
            foreach (var item in e!.Value.GetProperty("value").EnumerateArray()) events.Add(JsonNode.Parse(item.GetRawText()));
        };
        cdp.Event("Tracing.tracingComplete").OnEvent += (_, _) => complete.TrySetResult();
        await Task.Delay(Settle);
        await cdp.SendAsync("Tracing.start", new Dictionary<string, object>
        {
            ["categories"] = "devtools.timeline,v8,v8.execute,blink,loading,disabled-by-default-devtools.timeline,disabled-by-default-v8.compile",
            ["transferMode"] = "ReportEvents",
        });
        await page.GotoAsync(url);
        await page.WaitForFunctionAsync("() => performance.getEntriesByName('kiln:first-chart').length > 0", null, new() { Timeout = 60_000, PollingInterval = 20 });
        var chart = await page.EvaluateAsync<double>("() => performance.getEntriesByName('kiln:first-chart')[0].startTime");
        await cdp.SendAsync("Tracing.end");
        await complete.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await page.CloseAsync();
        File.WriteAllText(path, new JsonObject { ["traceEvents"] = events }.ToJsonString());
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# first chart at {chart:0} ms; trace of {events.Count} events in {path}"));

        // The renderer's main thread: complete events by name, their own time summed (children's time taken off).
        var main = events.OfType<JsonObject>().Where(e => (string?)e["name"] == "thread_name" && (string?)e["args"]?["name"] == "CrRendererMain")
            .Select(e => ((int)e["pid"]!, (int)e["tid"]!)).ToHashSet();
        var spans = events.OfType<JsonObject>()
            .Where(e => (string?)e["ph"] == "X" && main.Contains(((int)e["pid"]!, (int)e["tid"]!)) && e["dur"] is not null)
            .Select(e => (Name: (string)e["name"]!, Start: (double)e["ts"]!, End: (double)e["ts"]! + (double)e["dur"]!))
            .OrderBy(e => e.Start).ThenByDescending(e => e.End).ToList();
        if (spans.Count == 0) return;
        var self = new Dictionary<string, double>();
        var stack = new Stack<(string Name, double Start, double End, double Children)>();
        void Pop()
        {
            var top = stack.Pop();
            self[top.Name] = self.GetValueOrDefault(top.Name) + (top.End - top.Start - top.Children);
            if (stack.Count > 0) { var p = stack.Pop(); stack.Push((p.Name, p.Start, p.End, p.Children + (top.End - top.Start))); }
        }
        foreach (var s in spans)
        {
            while (stack.Count > 0 && stack.Peek().End <= s.Start) Pop();
            stack.Push((s.Name, s.Start, s.End, 0));
        }
        while (stack.Count > 0) Pop();
        var first = spans[0].Start;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# main thread busy {self.Values.Sum() / 1000:0} ms over {(spans.Max(s => s.End) - first) / 1000:0} ms; by kind (own time):"));
        foreach (var (name, us) in self.OrderByDescending(kv => kv.Value).Take(25))
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"#   {us / 1000,8:0.0} ms  {name}"));
    }

    private static void WriteTinyRun(string dir, int steps)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, RunFiles.Run), new RunInfo { Id = "tiny", Kind = "launch", Config = "simple", Status = RunInfo.Completed, Start = 1 }.ToJson().ToJsonString());
        using var writer = new StreamWriter(Path.Combine(dir, RunFiles.Metrics));
        for (var s = 0; s < steps; s++)
            writer.Write(string.Create(CultureInfo.InvariantCulture,
                $"{{\"step\":{s},\"epoch\":0,\"phase\":\"train\",\"wall_time\":{1.7e9 + s:0},\"metrics\":{{\"loss\":{1.0 / (s + 1):R},\"lr\":0.001}}}}\n"));
    }
}
