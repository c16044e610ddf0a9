using System.Text.Json.Nodes;
using Kiln.Modules.Loss;
using Kiln.Protocol;
using Kiln.Runs;
using Kiln.Testing;

namespace Kiln.Core.Tests;

/// <summary>A training loop's run object: its record, its lock, its metrics, its kernel and how it ends.</summary>
public sealed class KilnRunTests
{
    private static RunOptions Quiet(JsonObject? parameters = null) => new() { Log = _ => { }, StopOnSignals = false, Params = parameters, GitDirectory = null };

    private static JsonObject Record(string dir) => JsonNode.Parse(File.ReadAllText(Path.Combine(dir, RunFiles.Run)))!.AsObject();

    [Fact]
    public void A_run_is_recorded_running_while_it_trains_and_completed_with_its_last_metrics_when_it_ends()
    {
        using var tmp = new TempDir("run");
        var dir = tmp.Sub("exp");
        using (var run = KilnRun.Start(dir, Quiet(new JsonObject { ["lr"] = 0.1 }) with { Kind = "run", Config = "mine", Seed = 7 }))
        {
            var live = Record(dir);
            Assert.Equal(("running", "run", "mine", 7L), ((string)live["status"]!, (string)live["kind"]!, (string)live["config"]!, (long)live["seed"]!));
            Assert.Equal(Environment.ProcessId, (int)live["pid"]!);
            Assert.Equal(Environment.MachineName, (string)live["host"]!);
            Assert.NotNull(live["heartbeat"]);
            Assert.Equal(RunInfo.Running, RunState.Read(dir)!.Status);

            for (long step = 0; step < 5; step++)
            {
                run.Log(step, [("train_loss", 1.0 / (step + 1)), ("acc", step / 10.0)]);
                run.Apply(step);
            }
            run.Params["batch_size"] = 32;
            Assert.Equal(RunInfo.Completed, run.End());
        }
        var done = Record(dir);
        Assert.Equal("completed", (string)done["status"]!);
        Assert.Equal(0.2, (double)done["metrics"]!["train_loss"]!);
        Assert.Equal((0.1, 32L), ((double)done["params"]!["lr"]!, (long)done["params"]!["batch_size"]!));
        Assert.NotNull(done["end"]);
        Assert.Null(done["heartbeat"]);
        var lines = File.ReadAllLines(Path.Combine(dir, RunFiles.Metrics));
        Assert.Equal(5, lines.Length);
        Assert.Equal(4, (long)JsonNode.Parse(lines[^1])!["step"]!);
        // The kernel ran: its ledger and dials are there for the dashboard and the command line.
        Assert.True(File.Exists(Path.Combine(dir, RunFiles.Actuators)));
    }

    [Fact]
    public void Parameters_the_trainer_fills_in_after_the_start_are_recorded_by_its_first_metrics_while_it_trains()
    {
        using var tmp = new TempDir("run");
        using var run = KilnRun.Start(tmp.Path, Quiet(new JsonObject { ["lr"] = 0.1 }));
        run.Params["hidden"] = 64;
        run.Params["batch_size"] = 32;
        Assert.Null(Record(tmp.Path)["params"]!["hidden"]);
        run.Log(0, [("train_loss", 1.0)]);
        var live = Record(tmp.Path);
        Assert.Equal(("running", 0.1, 64, 32), ((string)live["status"]!, (double)live["params"]!["lr"]!, (int)live["params"]!["hidden"]!, (int)live["params"]!["batch_size"]!));
        run.End();
    }

    [Fact]
    public void A_second_run_in_the_same_directory_is_refused_while_the_first_trains()
    {
        using var tmp = new TempDir("run");
        using (var first = KilnRun.Start(tmp.Path, Quiet()))
        {
            var ex = Assert.Throws<ProtocolException>(() => KilnRun.Start(tmp.Path, Quiet()));
            Assert.Contains("another run is training in this directory", ex.Message);
            Assert.Contains($"pid {Environment.ProcessId}", ex.Message);
            first.End();
        }
        using var second = KilnRun.Start(tmp.Path, Quiet());
        Assert.Equal(RunInfo.Completed, second.End());
    }

    [Fact]
    public void A_stop_request_cancels_the_token_and_the_run_ends_stopped_not_completed()
    {
        using var tmp = new TempDir("run");
        using var run = KilnRun.Start(tmp.Path, Quiet());
        Assert.False(run.Stop.IsCancellationRequested);
        run.RequestStop("the user asked");
        Assert.True(run.Stop.IsCancellationRequested);
        Assert.Equal("the user asked", run.StopReason);
        Assert.Equal(RunInfo.Stopped, run.End());
        Assert.Equal("stopped", (string)Record(tmp.Path)["status"]!);
    }

    [Fact]
    public void A_caller_s_cancellation_stops_the_run_too()
    {
        using var tmp = new TempDir("run");
        using var cancel = new CancellationTokenSource();
        using var run = KilnRun.Start(tmp.Path, Quiet() with { Stop = cancel.Token });
        cancel.Cancel();
        Assert.True(run.StopRequested);
        Assert.Equal(RunInfo.Stopped, run.End());
    }

    [Fact]
    public void A_failed_run_names_the_exception_and_a_loop_that_left_without_End_is_not_called_completed()
    {
        using var tmp = new TempDir("run");
        using (var run = KilnRun.Start(tmp.Sub("a"), Quiet()))
        {
            Assert.Equal(RunInfo.Failed, run.Fail(new InvalidOperationException("the loss is NaN")));
            Assert.Equal(RunInfo.Failed, run.End());
        }
        Assert.Equal("InvalidOperationException: the loss is NaN", (string)Record(tmp.Sub("a"))["error"]!);

        using (KilnRun.Start(tmp.Sub("b"), Quiet()))
        {
            // The loop threw past the using: nobody called End.
        }
        var b = Record(tmp.Sub("b"));
        Assert.Equal("failed", (string)b["status"]!);
        Assert.Contains("without calling End()", (string)b["error"]!);

        using (var run = KilnRun.Start(tmp.Sub("c"), Quiet()))
        {
            run.RequestStop("signal");
        }
        Assert.Equal("stopped", (string)Record(tmp.Sub("c"))["status"]!);
    }

    [Fact]
    public async Task The_heartbeat_is_refreshed_while_the_run_lives()
    {
        using var tmp = new TempDir("run");
        using var run = KilnRun.Start(tmp.Path, Quiet() with { HeartbeatInterval = TimeSpan.FromMilliseconds(20) });
        var first = (double)Record(tmp.Path)["heartbeat"]!;
        await Wait.UntilAsync(() => RunState.Read(tmp.Path)?.Heartbeat > first, "a later heartbeat");
        run.End();
    }

    [Fact]
    public void The_kernel_s_dials_and_commands_work_through_the_run()
    {
        using var tmp = new TempDir("run");
        var loss = new LossDials([("cls", 1.0), ("aux", 0.5)]);
        using var run = KilnRun.Start(tmp.Path, Quiet());
        run.AddLoss(loss);
        new Kiln.Control.RunControl(tmp.Path).SetParams("loss", null, new JsonObject { ["aux_w"] = 2.0 });
        run.Apply(0);
        Assert.Equal(2.0, loss.GetWeight("aux"));
        run.End();
    }

    /// <summary>Seed 001's shape, without the interface.</summary>
    public sealed class Counter
    {
        public string Id => "counter";
        public int Seen { get; private set; }
        public void Handle(string evt, IDictionary<string, object?> env) => Seen++;
        public void SetParams(IDictionary<string, object?> parameters) { }
    }

    [Fact]
    public void A_callback_of_the_protocol_s_shape_registers_in_code_under_its_own_type()
    {
        using var tmp = new TempDir("run");
        var counter = new Counter();
        using var run = KilnRun.Start(tmp.Path, Quiet());
        run.AddCallback(counter);
        for (long step = 0; step < 3; step++) run.Apply(step);
        run.End();
        Assert.Equal(3, counter.Seen);
        var load = File.ReadAllLines(Path.Combine(tmp.Path, RunFiles.Ledger)).Select(l => JsonNode.Parse(l)!).Single(l => (string?)l["op"] == "load");
        Assert.Equal(typeof(Counter).FullName, (string)load["payload"]!["target"]!["path"]!);
    }

    [Fact]
    public void A_run_whose_trainer_follows_the_protocol_itself_records_status_only()
    {
        using var tmp = new TempDir("run");
        using var run = KilnRun.Start(tmp.Path, Quiet() with { OwnsProtocol = false });
        Assert.Null(run.Kernel);
        Assert.Null(run.Metrics);
        Assert.Throws<InvalidOperationException>(() => run.Log(0, [("x", 1.0)]));
        // No run lock: the trainer's own run object takes it.
        using (var inner = KilnRun.Start(tmp.Path, Quiet())) inner.End();
        Assert.Equal(RunInfo.Completed, run.End());
    }
}
