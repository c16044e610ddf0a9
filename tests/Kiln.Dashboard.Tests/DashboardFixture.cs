using System.Text.Json.Nodes;
using Kiln.Runs;
using Kiln.Protocol;
using Kiln.Server.Hosting;
using Kiln.Testing;
using Kiln.Train.Runs;
using Kiln.Trials.Expansion;
using Kiln.Trials.Running;
using Microsoft.Playwright;

namespace Kiln.Dashboard.Tests;

/// <summary>The browser tests share one of these: they run one after another, never in parallel.</summary>
[CollectionDefinition(Name)]
public sealed class DashboardCollection : ICollectionFixture<DashboardFixture>
{
    public const string Name = "dashboard";
}

/// <summary>
/// A workspace served by an in-process <see cref="KilnServer"/>: two finished trials (a tiny tree run with the trial
/// runner) and a live <c>simple</c> run training in the background until the tests end, plus one headless Chromium.
/// </summary>
public sealed class DashboardFixture : IAsyncLifetime
{
    public const string Chromium = "/usr/bin/chromium";
    public const string TrialLeaf = "out/log/sweep/synthetic/mlp/adam";

    private readonly TempDir _workspace = new("dashboard");
    private readonly CancellationTokenSource _stop = new();
    private Task<LaunchResult>? _live;

    public string Root => _workspace.Path;
    public KilnServer Server { get; private set; } = null!;
    public IPlaywright Playwright { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;

    /// <summary>The live run's id (its path under the workspace) and directory.</summary>
    public string LiveId { get; private set; } = "";
    public string LiveDir { get; private set; } = "";
    public string[] TrialIds { get; } = [$"{TrialLeaf}/trial_000", $"{TrialLeaf}/trial_001"];

    public async Task InitializeAsync()
    {
        if (!File.Exists(Chromium))
            throw new InvalidOperationException($"{Chromium} is missing: the dashboard's browser tests drive Debian's Chromium. Run scripts/setup.sh (it installs the chromium package) and test again.");
        Assertions.SetDefaultExpectTimeout(30_000);

        await RunTrialsAsync();
        WriteStatsRun();
        WriteLongRun();
        (LiveId, LiveDir, _live) = Launch("simple", _stop.Token);

        // Every run is read when a page asks for it (none at start), and a file over 1 MiB is first drawn from a preview.
        Server = await KilnServer.StartAsync(new ServerOptions { Root = Root, Port = 0, WarmRuns = 0, PreviewBytes = 1 << 20 });
        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        });
        await WaitForLiveRunAsync();
    }

    /// <summary>
    /// Starts a built-in run (<c>simple</c> unless <paramref name="config"/> says otherwise) under runs/ in the background
    /// (small model, synthetic data, 0.02 s a step), training until <paramref name="stop"/>; returns its id, its directory
    /// and how it ends.
    /// </summary>
    public (string Id, string Dir, Task<LaunchResult> Run) Launch(string name, CancellationToken stop, string config = "simple", JsonObject? parameters = null, long maxSteps = 50_000)
    {
        var dir = RunLauncher.NewRunDir(Path.Combine(Root, "runs"), name);
        Directory.CreateDirectory(dir);
        var options = new LaunchOptions
        {
            Function = BuiltInRuns.Get(config), RunDir = dir, Kind = "demo", MaxSteps = maxSteps, StepDelay = TimeSpan.FromSeconds(0.02), Seed = 1,
            DataDir = Path.Combine(Root, "no-fashion-mnist"), // the synthetic fallback: small, and no dataset package needed
            Params = parameters ?? new JsonObject { ["hidden1"] = 32, ["hidden2"] = 16, ["eval_every"] = 100, ["batch_size"] = 32 },
        };
        var run = Task.Run(() => RunLauncher.Run(options, cancel: stop), CancellationToken.None);
        return (Path.GetRelativePath(Root, dir).Replace(Path.DirectorySeparatorChar, '/'), dir, run);
    }

    /// <summary>The ids of every run directory in the workspace: the launched runs and the trials.</summary>
    public IReadOnlyList<string> RunIds() =>
        Directory.GetDirectories(Path.Combine(Root, "runs")).Select(d => "runs/" + Path.GetFileName(d)).Concat(TrialIds).ToList();

    /// <summary>Two trials of a tiny tree (a learning-rate sweep, two epochs each), run in this process.</summary>
    private async Task RunTrialsAsync()
    {
        void Cfg(string relative, string yaml)
        {
            var path = Path.Combine(Root, "cfg", relative, "cfg.yaml");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, yaml);
        }
        Cfg("sweep", "seed: 0\ndataset: synthetic\nmodel: {type: mlp, hidden: [16]}\nepochs: 2\nbatch_size: 500\n");
        Cfg("sweep/synthetic/mlp/adam", "lr: [0.001, 0.01]\n");
        await using var executor = TrialJobs.InProcessExecutor(Root, 2);
        var summary = await TrialRunner.RunAsync(Root, TrialFilter.All, executor, TrialJobs.InProcess);
        if (!summary.Succeeded || summary.Completed != 2)
            throw new InvalidOperationException("the trials did not complete: " + string.Join("; ", summary.Outcomes.Select(o => $"{o.Status} {o.Error}")));
    }

    /// <summary>A finished run of 50 steps that logged 203 metrics: its losses, lr and 200 per-layer statistics.</summary>
    public const string StatsRun = "runs/stats";

    private void WriteStatsRun()
    {
        var dir = Path.Combine(Root, StatsRun);
        Directory.CreateDirectory(dir);
        var files = new RunFiles(dir);
        File.WriteAllText(files.RunPath, new RunInfo { Id = "stats", Kind = "launch", Config = "simple", Status = RunInfo.Completed, Start = 1_700_000_000, End = 1_700_000_060 }.ToJson().ToJsonString());
        var text = new System.Text.StringBuilder();
        for (var step = 0; step < 50; step++)
        {
            text.Append(System.Globalization.CultureInfo.InvariantCulture, $"{{\"step\":{step},\"metrics\":{{\"train_loss\":{1.0 / (step + 1)},\"val_loss\":{1.5 / (step + 1)},\"lr\":0.001");
            for (var layer = 0; layer < 200; layer++) text.Append(System.Globalization.CultureInfo.InvariantCulture, $",\"layer{layer:000}.act_mean\":{layer + step * 0.01}");
            text.Append("}}\n");
        }
        File.WriteAllText(files.MetricsPath, text.ToString());

        var born = new RunFiles(Path.Combine(Root, BornRun));
        Directory.CreateDirectory(born.Dir);
        File.WriteAllText(born.RunPath, new RunInfo { Id = "born", Kind = "launch", Config = "simple", Status = RunInfo.Completed, Start = 1_700_000_000, End = 1_700_000_060 }.ToJson().ToJsonString());
        File.WriteAllText(born.MetricsPath, string.Concat(Enumerable.Range(0, 20).Select(step => $"{{\"step\":{step},\"metrics\":{{\"train_loss\":{20 - step}}}}}\n")));
    }

    /// <summary>A finished run of 200,000 steps (about 8 MB of metrics, one spike): its page starts from a preview.</summary>
    public const string LongRun = "runs/long";

    private void WriteLongRun()
    {
        var files = new RunFiles(Path.Combine(Root, LongRun));
        Directory.CreateDirectory(files.Dir);
        File.WriteAllText(files.RunPath, new RunInfo { Id = "long", Kind = "launch", Config = "simple", Status = RunInfo.Completed, Start = 1_700_000_000, End = 1_700_000_060 }.ToJson().ToJsonString());
        using var writer = new StreamWriter(files.MetricsPath);
        for (var step = 0; step < 200_000; step++)
            writer.Write(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{{\"step\":{step},\"metrics\":{{\"train_loss\":{(step == 123_457 ? 1000 : 1.0 / (step + 1))}}}}}\n"));
    }

    /// <summary>A run of 20 steps of train_loss alone, to which a test appends metrics born later.</summary>
    public const string BornRun = "runs/born";

    /// <summary>Waits until the live run's kernel has written its dials and the trainer its first metrics.</summary>
    private async Task WaitForLiveRunAsync()
    {
        var files = new RunFiles(LiveDir);
        await WaitUntilAsync(() => File.Exists(files.ActuatorsPath) && File.Exists(files.MetricsPath) && new FileInfo(files.MetricsPath).Length > 0, _live!, LiveDir);
    }

    /// <summary>Polls a condition on a run's files (30 s at most), failing early with the run's error if it ends first.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, Task<LaunchResult> run, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            if (run.IsCompleted)
            {
                var ended = await run;
                if (!condition()) throw new InvalidOperationException($"{what}: the run ended ({ended.Status} {ended.Error}) before it was ready");
                return;
            }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{what}: not ready after 30 s");
            await Task.Delay(50);
        }
    }

    /// <summary>
    /// The dashboard's address for a hash route, e.g. <c>#/runs</c>: as printed for the person who started the server
    /// (with the token, which the page trades for its cookie), or as anyone else on this machine would type it.
    /// </summary>
    public string Url(string route, bool signedIn = true) => signedIn ? Server.PageUrl(route) : Server.Url + route;

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_live is not null) await _live;
        if (Browser is not null) await Browser.CloseAsync();
        Playwright?.Dispose();
        if (Server is not null) await Server.DisposeAsync();
        _stop.Dispose();
        _workspace.Dispose();
    }
}

/// <summary>One browser page for one test: console errors and uncaught exceptions are collected and fail the test.</summary>
public sealed class PageSession : IAsyncDisposable
{
    private readonly IBrowserContext _context;

    private PageSession(IBrowserContext context, IPage page)
    {
        _context = context;
        Page = page;
        page.PageError += (_, error) => Errors.Add("page error: " + error);
        page.Request += (_, request) =>
        {
            lock (Requests) Requests.Add(request.Url);
        };
        page.Console += (_, message) =>
        {
            if (message.Type == "error") Errors.Add("console: " + message.Text);
        };
    }

    public IPage Page { get; }
    public IBrowserContext Context => _context;
    public List<string> Errors { get; } = [];

    /// <summary>Every URL the page asked for, from its first request on (lock it to read while the page runs).</summary>
    public List<string> Requests { get; } = [];

    /// <summary>Opens the route in a new browser context (no cookie yet), through the printed URL unless <paramref name="signedIn"/> is false.</summary>
    public static async Task<PageSession> OpenAsync(DashboardFixture fixture, string route, bool signedIn = true)
    {
        var context = await fixture.Browser.NewContextAsync(new() { ViewportSize = new() { Width = 1440, Height = 1000 } });
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(30_000);
        var session = new PageSession(context, page);
        await page.GotoAsync(fixture.Url(route, signedIn));
        return session;
    }

    /// <summary>No uncaught script error, no console error, nothing in the error bar.</summary>
    public async Task AssertCleanAsync()
    {
        Assert.True(Errors.Count == 0, string.Join("\n", Errors));
        var shown = await Page.Locator("[data-testid=error-message]").AllInnerTextsAsync();
        Assert.True(shown.Count == 0, "the error bar shows: " + string.Join(" | ", shown));
    }

    public async ValueTask DisposeAsync() => await _context.CloseAsync();
}
