using System.Globalization;
using System.Text.Json.Nodes;
using Kiln.Protocol;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Kiln.Dashboard.Tests;

/// <summary>The run page against a run that is training: live charts, steering from the controls, validation.</summary>
[Collection(DashboardCollection.Name)]
public sealed class RunPageTests(DashboardFixture fixture)
{
    private const string LossChart = "[data-testid=metric-chart][data-metric=train_loss]";

    private string RunRoute => $"#/run?run={Uri.EscapeDataString(fixture.LiveId)}";

    [Fact]
    public async Task The_loss_chart_grows_as_the_run_trains_and_follows_the_step_range_log_scale_and_smoothing()
    {
        await using var session = await PageSession.OpenAsync(fixture, RunRoute);
        var page = session.Page;
        await Expect(page.GetByTestId("run-status")).ToHaveTextAsync("running");
        var chart = page.Locator(LossChart);
        await Expect(chart.Locator("canvas").First).ToBeVisibleAsync();
        await Expect(page.GetByTestId("live-state")).ToHaveAttributeAsync("data-state", "open");
        var before = await Points(chart);
        Assert.True(before > 0, "the chart drew no points from the REST answer");

        // Points arrive over the event stream; wait for a few dozen more.
        await page.WaitForFunctionAsync(
            "([selector, n]) => Number(document.querySelector(selector)?.dataset.points) >= n",
            new object[] { LossChart, before + 25 }, new() { Timeout = 30_000 });
        Assert.True(await Points(chart) >= before + 25);

        // A step range is fetched from the server (one point per step here), and kept in the address.
        await page.GetByTestId("step-from").FillAsync("10");
        await page.GetByTestId("step-to").FillAsync("60");
        await page.GetByTestId("step-apply").ClickAsync();
        await Expect(chart).ToHaveAttributeAsync("data-points", "51");
        Assert.Contains("from=10&to=60", page.Url, StringComparison.Ordinal);

        // Log scale and smoothing redraw the same points.
        await page.GetByTestId("log-scale").CheckAsync();
        await page.GetByTestId("smoothing").FillAsync("0.9");
        await Expect(chart).ToHaveAttributeAsync("data-points", "51");
        await Expect(chart.Locator("canvas").First).ToBeVisibleAsync();

        await page.GetByTestId("step-reset").ClickAsync();
        await page.WaitForFunctionAsync(
            "([selector, n]) => Number(document.querySelector(selector)?.dataset.points) > n",
            new object[] { LossChart, before + 25 }, new() { Timeout = 30_000 });
        await session.AssertCleanAsync();
    }

    [Fact]
    public async Task Changing_the_learning_rate_is_ledgered_drawn_on_the_chart_and_written_by_the_dashboard()
    {
        await using var session = await PageSession.OpenAsync(fixture, RunRoute);
        var page = session.Page;
        var input = page.Locator("[data-testid=control-lr][data-group='0']");
        await Expect(input).ToBeVisibleAsync();
        await Expect(page.Locator(LossChart).Locator("canvas").First).ToBeVisibleAsync();

        await input.FillAsync("0.002");
        await page.Locator("[data-testid=apply-lr][data-group='0']").ClickAsync();

        // The control's feedback: first the command id, then the kernel's decision.
        var feedback = page.Locator("[data-testid=command-feedback][data-for='opt|main|0|lr']");
        await Expect(feedback).ToHaveAttributeAsync("data-decision", "applied");
        await Expect(feedback).ToContainTextAsync("lr=0.002");
        var cid = await feedback.GetAttributeAsync("data-cid");
        Assert.False(string.IsNullOrEmpty(cid));

        var row = page.Locator($"[data-testid=ledger-row][data-cid='{cid}']");
        await Expect(row).ToHaveAttributeAsync("data-decision", "applied");
        await Expect(row).ToHaveAttributeAsync("data-source", "dashboard");
        await Expect(row).ToContainTextAsync("lr=0.002");
        var step = long.Parse(await row.Locator("td").Nth(1).InnerTextAsync(), CultureInfo.InvariantCulture);

        var marker = page.Locator($"{LossChart} [data-testid=ledger-marker][data-step='{step}']");
        await Expect(marker).ToBeVisibleAsync();
        Assert.Contains("lr=0.002", await marker.GetAttributeAsync("title"), StringComparison.Ordinal);

        // On disk: the ledger has the dashboard's entry, applied with the value asked for.
        var entry = Ledger().Single(e => (string?)e["cid"] == cid);
        Assert.Equal(("dashboard", "opt", "set_params", "applied"), ((string?)entry["source"], (string?)entry["module"], (string?)entry["op"], (string?)entry["decision"]));
        Assert.Equal(0.002, (double)entry["payload"]!["lr"]!);
        Assert.Equal(step, (long)entry["step"]!);

        await page.ScreenshotAsync(new() { Path = ScreenshotPath("run-page.png"), FullPage = true });
        await session.AssertCleanAsync();
    }

    [Theory]
    [InlineData("-0.5", "must be at least 0")]
    [InlineData("fast", "is not a number")]
    [InlineData("", "enter a number")]
    public async Task An_invalid_learning_rate_is_refused_in_the_page_and_nothing_reaches_the_inbox(string typed, string message)
    {
        await using var session = await PageSession.OpenAsync(fixture, RunRoute);
        var page = session.Page;
        var posts = new List<string>();
        page.Request += (_, request) =>
        {
            if (request.Method == "POST") posts.Add(request.Url);
        };
        var input = page.Locator("[data-testid=control-lr][data-group='0']");
        await Expect(input).ToBeVisibleAsync();
        var inbox = InboxLines();

        await input.FillAsync(typed);
        await page.Locator("[data-testid=apply-lr][data-group='0']").ClickAsync();

        var feedback = page.Locator("[data-testid=command-feedback][data-for='opt|main|0|lr']");
        await Expect(feedback).ToBeVisibleAsync();
        await Expect(feedback).ToHaveAttributeAsync("data-decision", "invalid");
        await Expect(feedback).ToContainTextAsync(message);
        await Expect(input).ToHaveAttributeAsync("aria-invalid", "true");
        Assert.Empty(posts);
        Assert.Equal(inbox, InboxLines());
        await session.AssertCleanAsync();
    }

    [Fact]
    public async Task Loss_callback_and_freeze_controls_queue_what_the_command_line_would_and_the_kernel_applies_it()
    {
        await using var session = await PageSession.OpenAsync(fixture, RunRoute);
        var page = session.Page;
        ILocator Feedback(string key) => page.Locator($"[data-testid=command-feedback][data-for='{key}']");

        await page.GetByTestId("control-cls_w").FillAsync("0.5");
        await page.GetByTestId("apply-cls_w").ClickAsync();
        await Expect(Feedback("loss|main|cls_w")).ToHaveAttributeAsync("data-decision", "applied");

        await page.Locator("summary", new() { HasText = "Load a callback" }).ClickAsync();
        await page.Locator("[data-field='cb|load|id']").FillAsync("timing");
        await page.Locator("[data-field='cb|load|kind']").SelectOptionAsync("type");
        await page.Locator("[data-field='cb|load|path']").FillAsync("Kiln.Callbacks.Timing");
        await page.Locator("[data-field='cb|load|init']").FillAsync("""{"every": 50}""");
        await page.Locator("[data-field='cb|load|enabled']").CheckAsync();
        await page.GetByTestId("apply-cb-load").ClickAsync();
        await Expect(Feedback("cb|load")).ToHaveAttributeAsync("data-decision", "applied");
        var row = page.Locator("[data-testid=cb-row][data-cb=timing]");
        await Expect(row).ToContainTextAsync("enabled");
        await row.GetByTestId("cb-disable").ClickAsync();
        await Expect(Feedback("cb|timing")).ToHaveAttributeAsync("data-decision", "applied");
        await Expect(row).ToContainTextAsync("disabled");

        try
        {
            await page.Locator("summary", new() { HasText = "Change freeze" }).ClickAsync();
            await page.GetByTestId("freeze-mode").Last.SelectOptionAsync("prod");
            await page.GetByTestId("apply-freeze").ClickAsync();
            await Expect(Feedback("freeze")).ToContainTextAsync("prod");
            await Expect(page.Locator("span[data-testid=freeze-mode]")).ToHaveTextAsync("prod");
            Assert.Equal("prod", (string?)JsonNode.Parse(File.ReadAllText(new RunFiles(fixture.LiveDir).FreezePath))!["mode"]);
        }
        finally
        {
            await page.Locator("select[data-testid=freeze-mode]").SelectOptionAsync("off");
            await page.GetByTestId("apply-freeze").ClickAsync();
            await Expect(page.Locator("span[data-testid=freeze-mode]")).ToHaveTextAsync("off");
        }

        // The inbox holds the commands as `kiln loss set_params`, `kiln cb load --path … --init … --enabled` and `kiln cb disable` write them.
        var inbox = InboxLines().Select(l => (JsonObject)JsonNode.Parse(l)!).Where(c => (string?)c["source"] == "dashboard").ToList();
        var loss = inbox.Single(c => (string?)c["module"] == "loss");
        Assert.Equal("""{"cls_w":0.5}""", loss["params"]!.ToJsonString());
        Assert.Equal(("set_params", "main"), ((string?)loss["op"], (string?)loss["id"]));
        var load = inbox.Single(c => (string?)c["op"] == "load");
        Assert.Equal("""{"kind":"type","path":"Kiln.Callbacks.Timing","symbol":null}""", load["target"]!.ToJsonString());
        Assert.Equal("""{"every":50}""", load["init"]!.ToJsonString());
        Assert.True((bool)load["enabled"]!);
        Assert.Single(inbox, c => (string?)c["module"] == "cb" && (string?)c["op"] == "disable" && (string?)c["id"] == "timing" && c["params"] is null);
        await session.AssertCleanAsync();
    }

    [Fact]
    public async Task A_loss_term_is_switched_off_and_on_and_ramped_from_the_page()
    {
        await using var session = await PageSession.OpenAsync(fixture, RunRoute);
        var page = session.Page;
        ILocator Feedback(string key) => page.Locator($"[data-testid=command-feedback][data-for='{key}']");
        var termBadge = page.Locator("[data-testid=controls-loss] .dial", new() { HasText = "terms.cls" }).Locator(".badge");
        var rampNow = page.Locator("[data-testid=controls-loss] .dial", new() { HasText = "ramps.cls" }).Locator(".dial-now");
        var before = InboxLines().Length;

        try
        {
            await Expect(termBadge).ToHaveTextAsync("on");
            await page.GetByTestId("apply-terms.cls").ClickAsync();
            await Expect(Feedback("loss|main|terms.cls")).ToHaveAttributeAsync("data-decision", "applied");
            await Expect(termBadge).ToHaveTextAsync("off");
            await Expect(page.GetByTestId("apply-terms.cls")).ToHaveTextAsync("Switch on");
        }
        finally
        {
            await page.GetByTestId("apply-terms.cls").ClickAsync();
            await Expect(termBadge).ToHaveTextAsync("on");
        }

        // A ramp without its length is refused in the page; a whole one is applied and shown with today's factor.
        await Expect(rampNow).ToHaveTextAsync("none");
        var rampForm = page.Locator("details[data-field='loss|main|ramps.cls|open']");
        await rampForm.Locator("summary").ClickAsync();
        await rampForm.Locator("[data-field='loss|main|ramps.cls|start']").FillAsync("0.5");
        await page.GetByTestId("apply-ramps.cls").ClickAsync();
        await Expect(Feedback("loss|main|ramps.cls")).ToHaveAttributeAsync("data-decision", "invalid");
        await Expect(Feedback("loss|main|ramps.cls")).ToContainTextAsync("give end_step or warmup_frac");
        Assert.Equal(before + 2, InboxLines().Length);

        await rampForm.Locator("[data-field='loss|main|ramps.cls|type']").SelectOptionAsync("cosine");
        await rampForm.Locator("[data-field='loss|main|ramps.cls|end_step']").FillAsync("900000000");
        await page.GetByTestId("apply-ramps.cls").ClickAsync();
        await Expect(Feedback("loss|main|ramps.cls")).ToHaveAttributeAsync("data-decision", "applied");
        await Expect(rampNow).ToContainTextAsync("type=cosine");
        await Expect(rampNow).ToContainTextAsync("end_step=900000000");
        await Expect(rampNow).ToContainTextAsync("(×0.5");
        await Expect(rampForm.Locator("summary")).ToHaveTextAsync("Change ramp");

        await rampForm.GetByRole(AriaRole.Button, new() { Name = "Remove" }).ClickAsync();
        await Expect(rampNow).ToHaveTextAsync("none");

        // What reached the inbox is what `kiln loss set_params terms.cls=false` and `ramps.cls={…}` write.
        var sent = InboxLines().Skip(before).Select(l => (JsonObject)JsonNode.Parse(l)!).ToList();
        Assert.All(sent, c => Assert.Equal(("loss", "set_params", "main", "dashboard"), ((string?)c["module"], (string?)c["op"], (string?)c["id"], (string?)c["source"])));
        Assert.Equal(
            ["""{"terms.cls":false}""", """{"terms.cls":true}""", """{"ramps.cls":{"type":"cosine","end_step":900000000,"start":0.5}}""", """{"ramps.cls":null}"""],
            sent.Select(c => c["params"]!.ToJsonString()));
        await session.AssertCleanAsync();
    }

    [Fact]
    public async Task A_run_of_hundreds_of_metrics_opens_with_its_losses_and_lr_and_finds_the_others_by_name()
    {
        await using var session = await PageSession.OpenAsync(fixture, $"#/run?run={Uri.EscapeDataString(DashboardFixture.StatsRun)}");
        var page = session.Page;
        var charts = page.GetByTestId("metric-chart");
        var boxes = page.Locator("[data-testid=metric-picker] input[type=checkbox]");
        var picker = page.GetByTestId("metric-picker");
        await Expect(charts).ToHaveCountAsync(3);
        Assert.Equal(["lr", "train_loss", "val_loss"], (await charts.EvaluateAllAsync<string[]>("els => els.map(e => e.dataset.metric)")).Order());
        await Expect(boxes).ToHaveCountAsync(3);
        await Expect(picker).ToContainTextAsync("203 metrics: type to find one");

        await page.GetByTestId("metric-filter").FillAsync("LAYER04");
        await Expect(boxes).ToHaveCountAsync(13);
        await Expect(picker).ToContainTextAsync("10 found");
        await page.GetByTestId("metric-filter").FillAsync("act_mean");
        await Expect(picker).ToContainTextAsync("200 found, the first 40 shown");
        await Expect(boxes).ToHaveCountAsync(43);

        await page.GetByTestId("metric-filter").FillAsync("layer042");
        await Expect(boxes).ToHaveCountAsync(4);
        await page.Locator("[data-testid=metric-picker] input[data-metric='layer042.act_mean']").CheckAsync();
        await Expect(page.Locator("[data-testid=metric-chart][data-metric='layer042.act_mean']")).ToHaveAttributeAsync("data-points", "50");
        await Expect(charts).ToHaveCountAsync(4);
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("metrics=[^&]*layer042"));

        // Only the drawn series were ever asked for: the server's defaults, then the one picked by name.
        List<string> asked;
        lock (session.Requests) asked = session.Requests.Where(u => u.Contains("/api/run/metrics?", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, asked.Count);
        Assert.Contains("pick=default", asked[0], StringComparison.Ordinal);
        Assert.Contains("names=layer042.act_mean", Uri.UnescapeDataString(asked[1]), StringComparison.Ordinal);
        await session.AssertCleanAsync();
    }

    [Fact]
    public async Task A_metric_born_while_the_page_is_open_is_drawn_when_it_is_one_to_draw_by_default()
    {
        await using var session = await PageSession.OpenAsync(fixture, $"#/run?run={Uri.EscapeDataString(DashboardFixture.BornRun)}");
        var page = session.Page;
        var charts = page.GetByTestId("metric-chart");
        await Expect(charts).ToHaveCountAsync(1);
        await Expect(page.GetByTestId("live-state")).ToHaveAttributeAsync("data-state", "open");

        File.AppendAllText(Path.Combine(fixture.Root, DashboardFixture.BornRun, RunFiles.Metrics), string.Concat(Enumerable.Range(20, 10).Select(step =>
            $"{{\"step\":{step},\"metrics\":{{\"train_loss\":1,\"val_acc\":{step / 100.0},\"grad_norm\":2}}}}\n")));
        // val_acc is an accuracy: drawn with every point; grad_norm is only offered in the picker.
        await Expect(page.Locator("[data-testid=metric-chart][data-metric=val_acc]")).ToHaveAttributeAsync("data-points", "10");
        await Expect(page.Locator("[data-testid=metric-chart][data-metric=train_loss]")).ToHaveAttributeAsync("data-points", "30");
        await Expect(page.Locator("[data-testid=metric-picker] input[data-metric=grad_norm]")).Not.ToBeCheckedAsync();
        await Expect(charts).ToHaveCountAsync(2);
        await session.AssertCleanAsync();
    }

    [Fact]
    public async Task A_large_run_draws_a_preview_at_once_and_fills_in_when_the_server_has_read_it()
    {
        await using var session = await PageSession.OpenAsync(fixture, $"#/run?run={Uri.EscapeDataString(DashboardFixture.LongRun)}");
        var page = session.Page;
        var chart = page.Locator("[data-testid=metric-chart][data-metric=train_loss]");
        await Expect(chart).Not.ToHaveAttributeAsync("data-points", "0");
        // The page was first drawn from the server's preview, then from the whole file.
        await page.WaitForFunctionAsync("() => performance.getEntriesByName('kiln:whole-chart').length > 0");
        Assert.True(await page.EvaluateAsync<bool>(
            "() => performance.getEntriesByName('kiln:first-chart')[0].startTime <= performance.getEntriesByName('kiln:whole-chart')[0].startTime"));
        await Expect(page.GetByTestId("metrics-partial")).ToBeHiddenAsync();
        await Expect(page.GetByTestId("charts")).Not.ToHaveAttributeAsync("data-partial", "true");
        await Expect(page.Locator("label.pick", new() { HasText = "train_loss" })).ToHaveAttributeAsync("title", "200000 points");
        List<string> asked;
        lock (session.Requests) asked = session.Requests.Where(u => u.Contains("/api/run/metric-names?", StringComparison.Ordinal)).ToList();
        Assert.True(asked.Count >= 2, "the page asked for the names again once the file was read");
        await session.AssertCleanAsync();
    }

    [Fact]
    public async Task A_change_refused_for_its_token_tells_the_user_which_url_to_open()
    {
        await using var session = await PageSession.OpenAsync(fixture, RunRoute);
        var page = session.Page;
        // As if the browser had lost its cookie (the server restarted with another token): the change is refused with 401.
        await session.Context.ClearCookiesAsync();
        var input = page.Locator("[data-testid=control-lr][data-group='0']");
        await Expect(input).ToBeVisibleAsync();
        var inbox = InboxLines();

        await input.FillAsync("0.003");
        await page.Locator("[data-testid=apply-lr][data-group='0']").ClickAsync();

        await Expect(page.Locator("[data-testid=command-feedback][data-for='opt|main|0|lr']")).ToHaveAttributeAsync("data-decision", "error");
        var error = page.GetByTestId("error-message");
        await Expect(error).ToContainTextAsync("token");
        await Expect(error).ToContainTextAsync("open the dashboard through the URL Kiln printed");
        Assert.Equal(inbox, InboxLines());
        Assert.DoesNotContain(session.Errors, e => e.StartsWith("page error", StringComparison.Ordinal)); // the 401 itself is logged, as it should be
    }

    [Fact]
    public async Task The_status_badge_follows_the_run_when_it_is_stopped()
    {
        using var stop = new CancellationTokenSource();
        var (id, dir, run) = fixture.Launch("stopped", stop.Token);
        try
        {
            await DashboardFixture.WaitUntilAsync(() => File.Exists(new RunFiles(dir).MetricsPath), run, dir);
            await using var session = await PageSession.OpenAsync(fixture, $"#/run?run={Uri.EscapeDataString(id)}");
            var page = session.Page;
            await Expect(page.GetByTestId("run-status")).ToHaveTextAsync("running");
            await Expect(page.GetByTestId("live-state")).ToHaveAttributeAsync("data-state", "open");

            await stop.CancelAsync();
            Assert.Equal(RunInfo.Stopped, (await run).Status);
            await Expect(page.GetByTestId("run-status")).ToHaveTextAsync("stopped");
            await Expect(page.GetByTestId("run-header")).ToContainTextAsync("ended");
            await Expect(page.GetByTestId("controls")).ToContainTextAsync("The run is stopped");
            await session.AssertCleanAsync();
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }

    private static async Task<int> Points(ILocator chart) =>
        int.Parse(await chart.GetAttributeAsync("data-points") ?? "0", CultureInfo.InvariantCulture);

    private List<JsonObject> Ledger() =>
        File.ReadAllLines(new RunFiles(fixture.LiveDir).LedgerPath).Where(l => l.Length > 0).Select(l => (JsonObject)JsonNode.Parse(l)!).ToList();

    private string[] InboxLines()
    {
        var path = new RunFiles(fixture.LiveDir).CommandsPath;
        return File.Exists(path) ? File.ReadAllLines(path) : [];
    }

    /// <summary>artifacts/screenshots/<paramref name="name"/> under the repository (the folder holding Kiln.slnx).</summary>
    private static string ScreenshotPath(string name)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Kiln.slnx"))) dir = dir.Parent;
        if (dir is null) throw new DirectoryNotFoundException($"no Kiln.slnx above {AppContext.BaseDirectory}");
        var folder = Directory.CreateDirectory(Path.Combine(dir.FullName, "artifacts", "screenshots"));
        return Path.Combine(folder.FullName, name);
    }
}
