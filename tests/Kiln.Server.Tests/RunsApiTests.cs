using System.Net;
using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Server.Tests;

/// <summary>The runs list (filter, sort, paging, statuses), one run's state, its ledger and its epochs.</summary>
public sealed class RunsApiTests
{
    private static JsonObject M(double loss, double acc) => new() { ["loss"] = loss, ["acc"] = acc };

    private static void Workspace(Kiln.Testing.TempDir w)
    {
        FakeRun.Create(w.Sub("runs/20261122-090000-simple"), start: 100, metrics: M(0.5, 0.8));
        FakeRun.Create(w.Sub("runs/20261122-100000-multitask"), config: "multitask", start: 200, metrics: M(0.3, 0.9));
        FakeRun.Create(w.Sub("runs/20261122-110000-simple"), status: RunInfo.Failed, start: 300);
        // A trial that has not run: only its kiln.trial.json.
        var pending = w.Sub("out/log/sweep/mlp/trial_000");
        File.WriteAllText(Path.Combine(pending, "kiln.trial.json"), """{"swept":{"lr":0.1,"optimizer":"adam"}}""");
        // A trial that ran: batch_log.csv makes it complete.
        var done = FakeRun.Create(w.Sub("out/log/sweep/mlp/trial_001"), kind: "trial", config: "cfg", status: RunInfo.Running, start: 150, metrics: M(0.4, 0.85));
        File.WriteAllText(Path.Combine(done, "kiln.trial.json"), """{"swept":{"lr":0.01,"optimizer":"sgd"}}""");
        File.WriteAllText(Path.Combine(done, RunFiles.BatchLog), "epoch,mode,batch,loss\n1,train,0,1\n1,train,1,3\n1,val,0,2\n");
        // Not runs: plain folders, and build output that happens to look like one.
        w.Sub("notes");
        FakeRun.Create(w.Sub("src/bin/runs/x"));
    }

    private static List<string> Ids(JsonNode answer) => answer["runs"]!.AsArray().Select(r => r!["id"]!.GetValue<string>()).ToList();

    [Fact]
    public async Task Every_run_and_trial_under_the_root_is_listed_with_its_status()
    {
        await using var host = await ServerHost.StartAsync(Workspace);
        var answer = await host.GetOk("/api/runs?sort=id&order=asc");
        Assert.Equal(5, answer["total"]!.GetValue<int>());
        Assert.Equal(
            ["out/log/sweep/mlp/trial_000", "out/log/sweep/mlp/trial_001", "runs/20261122-090000-simple", "runs/20261122-100000-multitask", "runs/20261122-110000-simple"],
            Ids(answer));
        var runs = answer["runs"]!.AsArray().ToDictionary(r => r!["id"]!.GetValue<string>(), r => r!);
        Assert.Equal("pending", runs["out/log/sweep/mlp/trial_000"]["status"]!.GetValue<string>());
        Assert.Equal("trial", runs["out/log/sweep/mlp/trial_000"]["kind"]!.GetValue<string>());
        Assert.Equal("adam", runs["out/log/sweep/mlp/trial_000"]["swept"]!["optimizer"]!.GetValue<string>());
        Assert.Equal("completed", runs["out/log/sweep/mlp/trial_001"]["status"]!.GetValue<string>());
        Assert.Equal("failed", runs["runs/20261122-110000-simple"]["status"]!.GetValue<string>());
        Assert.Equal(0.9, runs["runs/20261122-100000-multitask"]["metrics"]!["acc"]!.GetValue<double>());
        Assert.Equal("multitask", runs["runs/20261122-100000-multitask"]["config"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_stray_commands_file_above_runs_never_hides_them_and_is_listed_where_no_run_is_below()
    {
        await using var host = await ServerHost.StartAsync(w =>
        {
            Workspace(w);
            // `kiln --dir runs set lr=…` with the run's name forgotten, as older versions let it write.
            File.WriteAllText(Path.Combine(w.Sub("runs"), RunFiles.Commands), "{\"module\":\"opt\",\"op\":\"set_params\",\"params\":{\"lr\":0.001}}\n");
            File.WriteAllText(Path.Combine(w.Sub("queued"), RunFiles.Commands), "{\"module\":\"opt\",\"op\":\"set_params\",\"params\":{\"lr\":0.001}}\n");
        });
        var ids = Ids(await host.GetOk("/api/runs?sort=id&order=asc"));
        Assert.Equal(
            ["out/log/sweep/mlp/trial_000", "out/log/sweep/mlp/trial_001", "queued", "runs/20261122-090000-simple", "runs/20261122-100000-multitask", "runs/20261122-110000-simple"],
            ids);
    }

    [Fact]
    public async Task A_run_whose_process_died_shows_as_interrupted()
    {
        using var dead = System.Diagnostics.Process.Start("true")!;
        dead.WaitForExit();
        await using var host = await ServerHost.StartAsync(w =>
        {
            FakeRun.Create(w.Sub("runs/dead"), status: RunInfo.Running, pid: dead.Id);
            FakeRun.Create(w.Sub("runs/alive"), status: RunInfo.Running, pid: Environment.ProcessId);
        });
        var runs = (await host.GetOk("/api/runs"))["runs"]!.AsArray().ToDictionary(r => r!["id"]!.GetValue<string>(), r => r!["status"]!.GetValue<string>());
        Assert.Equal("interrupted", runs["runs/dead"]);
        Assert.Equal("running", runs["runs/alive"]);
    }

    [Fact]
    public async Task Filter_matches_ids_configs_statuses_and_swept_values()
    {
        await using var host = await ServerHost.StartAsync(Workspace);
        Assert.Equal(["runs/20261122-100000-multitask"], Ids(await host.GetOk("/api/runs?filter=MULTI")));
        Assert.Equal(["runs/20261122-110000-simple"], Ids(await host.GetOk("/api/runs?filter=failed")));
        Assert.Equal(["out/log/sweep/mlp/trial_001"], Ids(await host.GetOk("/api/runs?filter=sgd")));
        var none = await host.GetOk("/api/runs?filter=nothing-like-this");
        Assert.Equal(0, none["total"]!.GetValue<int>());
        Assert.Empty(none["runs"]!.AsArray());
    }

    [Fact]
    public async Task Sorting_by_start_or_a_metric_puts_runs_without_the_key_last()
    {
        await using var host = await ServerHost.StartAsync(Workspace);
        Assert.Equal(
            ["runs/20261122-110000-simple", "runs/20261122-100000-multitask", "out/log/sweep/mlp/trial_001", "runs/20261122-090000-simple", "out/log/sweep/mlp/trial_000"],
            Ids(await host.GetOk("/api/runs")));
        var byLoss = Ids(await host.GetOk("/api/runs?sort=loss&order=asc"));
        Assert.Equal(["runs/20261122-100000-multitask", "out/log/sweep/mlp/trial_001", "runs/20261122-090000-simple"], byLoss[..3]);
        var byAccDesc = Ids(await host.GetOk("/api/runs?sort=acc&order=desc"));
        Assert.Equal("runs/20261122-100000-multitask", byAccDesc[0]);
        Assert.Equal(["out/log/sweep/mlp/trial_000", "runs/20261122-110000-simple"], byAccDesc[3..]);
    }

    [Fact]
    public async Task A_row_of_a_run_with_hundreds_of_metrics_carries_the_sort_key_the_defaults_and_a_count_of_the_rest()
    {
        var latest = new JsonObject { ["val_loss"] = 0.5, ["lr"] = 0.01, ["grad_norm"] = 2 };
        for (var i = 0; i < 300; i++) latest[$"layer{i:000}.act_mean"] = i;
        await using var host = await ServerHost.StartAsync(w =>
        {
            FakeRun.Create(w.Sub("runs/wide"), metrics: latest);
            FakeRun.Create(w.Sub("runs/narrow"), metrics: new JsonObject { ["loss"] = 1, ["acc"] = 0.5 });
        });
        JsonObject Row(JsonNode list, string id) => list["runs"]!.AsArray().Single(r => (string?)r!["id"] == id)!.AsObject();

        var rows = await host.GetOk("/api/runs?sort=layer250.act_mean&order=desc");
        var wide = Row(rows, "runs/wide");
        var names = wide["metrics"]!.AsObject().Select(kv => kv.Key).ToHashSet();
        Assert.Equal(12, names.Count);
        Assert.Superset(new HashSet<string> { "layer250.act_mean", "val_loss", "lr" }, names);
        Assert.Equal(303 - 12, wide["metrics_more"]!.GetValue<int>());
        Assert.Equal(250, wide["metrics"]!["layer250.act_mean"]!.GetValue<double>());
        // A run of a few metrics lists them all, with nothing left out.
        var narrow = Row(rows, "runs/narrow");
        Assert.Equal(2, narrow["metrics"]!.AsObject().Count);
        Assert.Null(narrow["metrics_more"]);
        // Sorting still sees every metric of every run.
        Assert.Equal("runs/wide", (string?)rows["runs"]![0]!["id"]);
    }

    [Fact]
    public async Task Paging_splits_the_sorted_list_and_clamps_bad_values()
    {
        await using var host = await ServerHost.StartAsync(Workspace);
        var all = Ids(await host.GetOk("/api/runs?sort=id&order=asc"));
        var page0 = await host.GetOk("/api/runs?sort=id&order=asc&size=2&page=0");
        var page2 = await host.GetOk("/api/runs?sort=id&order=asc&size=2&page=2");
        Assert.Equal(all[..2], Ids(page0));
        Assert.Equal(all[4..], Ids(page2));
        Assert.Equal(5, page2["total"]!.GetValue<int>());
        Assert.Empty(Ids(await host.GetOk("/api/runs?size=2&page=9")));
        var clamped = await host.GetOk("/api/runs?size=100000&page=-3");
        Assert.Equal((500, 0), (clamped["size"]!.GetValue<int>(), clamped["page"]!.GetValue<int>()));
        Assert.Equal(50, (await host.GetOk("/api/runs?size=abc"))["size"]!.GetValue<int>());
    }

    [Fact]
    public async Task New_runs_appear_and_changed_runs_are_summarized_again()
    {
        await using var host = await ServerHost.StartAsync(Workspace);
        Assert.Equal(5, (await host.GetOk("/api/runs"))["total"]!.GetValue<int>());
        FakeRun.Create(Path.Combine(host.Workspace.Path, "runs/new"), start: 999);
        // Naming it finds it at once; the list follows at its next walk.
        Assert.Equal(HttpStatusCode.OK, (await host.Get("/api/run?run=runs/new")).Status);
        Assert.Equal("runs/new", Ids(await host.GetOk("/api/runs"))[0]);
        FakeRun.Create(Path.Combine(host.Workspace.Path, "runs/new"), status: RunInfo.Failed, start: 999);
        Assert.Equal("failed", (await host.GetOk("/api/run?run=runs/new"))["run"]!["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_running_run_lists_the_latest_values_of_its_metrics_file()
    {
        await using var host = await ServerHost.StartAsync(w =>
        {
            var dir = FakeRun.Create(w.Sub("runs/live"), status: RunInfo.Running, pid: Environment.ProcessId);
            FakeRun.Metrics(dir, 0, 5000, s => 1.0 / (s + 1));
            File.AppendAllText(Path.Combine(dir, RunFiles.Metrics), "{\"step\":5001,\"metrics\":{\"loss\":"); // being written
        });
        var run = (await host.GetOk("/api/runs"))["runs"]![0]!;
        Assert.Equal(1.0 / 5001, run["metrics"]!["loss"]!.GetValue<double>());
    }

    [Fact]
    public async Task A_run_answers_with_its_dials_and_freeze_state()
    {
        await using var host = await ServerHost.StartAsync(w =>
        {
            var dir = FakeRun.Create(w.Sub("runs/a"));
            File.WriteAllText(Path.Combine(dir, RunFiles.Actuators), """{"opt":{"groups":[{"lr":0.1}]}}""");
        });
        var answer = await host.GetOk("/api/run?run=runs/a");
        Assert.Equal("runs/a", answer["run"]!["id"]!.GetValue<string>());
        Assert.Equal(0.1, answer["actuators"]!["opt"]!["groups"]![0]!["lr"]!.GetValue<double>());
        Assert.Equal("off", answer["freeze"]!["mode"]!.GetValue<string>());
        Assert.False(answer["has_epochs"]!.GetValue<bool>());
        var (status, body) = await host.Get("/api/run");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Contains("?run=", body!["error"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_single_run_directory_can_be_served_as_the_root()
    {
        using var dir = new Kiln.Testing.TempDir("single");
        FakeRun.Create(dir.Path);
        await using var server = await Hosting.KilnServer.StartAsync(new Hosting.ServerOptions { Root = dir.Path, Port = 0 });
        using var client = new HttpClient { BaseAddress = new Uri(server.Url) };
        var answer = JsonNode.Parse(await client.GetStringAsync("/api/runs"))!;
        Assert.Equal(".", answer["runs"]![0]!["id"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/run?run=.")).StatusCode);
    }

    [Fact]
    public async Task Serving_a_missing_directory_fails_with_its_name()
    {
        var missing = Path.Combine(Path.GetTempPath(), "kiln-no-such-" + Guid.NewGuid().ToString("N"));
        var ex = await Assert.ThrowsAsync<DirectoryNotFoundException>(() => Hosting.KilnServer.StartAsync(new Hosting.ServerOptions { Root = missing, Port = 0 }));
        Assert.Contains(missing, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_ledger_pages_by_sequence_and_its_offset_stops_before_a_torn_line()
    {
        await using var host = await ServerHost.StartAsync(w => FakeRun.Create(w.Sub("runs/a")));
        var dir = Path.Combine(host.Workspace.Path, "runs/a");
        for (var i = 1; i <= 5; i++) FakeRun.Decide(dir, step: i * 10);
        var path = Path.Combine(dir, RunFiles.Ledger);
        var complete = new FileInfo(path).Length;
        File.AppendAllText(path, "{\"seq\":6,\"decision\":\"app");

        var all = await host.GetOk("/api/run/ledger?run=runs/a");
        Assert.Equal([1L, 2, 3, 4, 5], all["entries"]!.AsArray().Select(e => e!["seq"]!.GetValue<long>()));
        Assert.Equal(complete, all["offset"]!.GetValue<long>());
        Assert.Equal(30, all["entries"]![2]!["step"]!.GetValue<long>());
        var later = await host.GetOk("/api/run/ledger?run=runs/a&after=3&limit=1");
        Assert.Equal([4L], later["entries"]!.AsArray().Select(e => e!["seq"]!.GetValue<long>()));

        var empty = await host.GetOk("/api/run/ledger?run=runs/a&after=100");
        Assert.Empty(empty["entries"]!.AsArray());
    }

    [Fact]
    public async Task A_run_without_a_ledger_has_an_empty_one()
    {
        await using var host = await ServerHost.StartAsync(w => FakeRun.Create(w.Sub("runs/a")));
        var answer = await host.GetOk("/api/run/ledger?run=runs/a");
        Assert.Empty(answer["entries"]!.AsArray());
        Assert.Equal(0, answer["offset"]!.GetValue<long>());
    }

    [Fact]
    public async Task Epochs_come_from_the_batch_log_and_a_run_without_one_says_so()
    {
        await using var host = await ServerHost.StartAsync(Workspace);
        var epochs = await host.GetOk("/api/run/epochs?run=out/log/sweep/mlp/trial_001");
        Assert.Equal(["loss"], epochs["columns"]!.AsArray().Select(c => c!.GetValue<string>()));
        var rows = epochs["rows"]!.AsArray();
        Assert.Equal(2, rows.Count);
        var train = rows.Single(r => r!["mode"]!.GetValue<string>() == "train")!;
        Assert.Equal((1L, 2.0, 2), (train["epoch"]!.GetValue<long>(), train["values"]!["loss"]!.GetValue<double>(), train["n_batches"]!.GetValue<int>()));
        Assert.True((await host.GetOk("/api/run?run=out/log/sweep/mlp/trial_001"))["has_epochs"]!.GetValue<bool>());

        var (status, body) = await host.Get("/api/run/epochs?run=runs/20261122-090000-simple");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Contains("batch_log.csv", body!["error"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_malformed_batch_log_is_a_422_naming_the_problem()
    {
        await using var host = await ServerHost.StartAsync(w =>
        {
            var dir = FakeRun.Create(w.Sub("out/t"), kind: "trial");
            File.WriteAllText(Path.Combine(dir, RunFiles.BatchLog), "epoch,batch,loss\n1,0,1\n");
        });
        var (status, body) = await host.Get("/api/run/epochs?run=out/t");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Contains("mode", body!["error"]!.GetValue<string>(), StringComparison.Ordinal);
    }
}
