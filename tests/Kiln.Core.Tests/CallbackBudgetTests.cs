using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Kiln.Kernel;
using Kiln.Modules;
using Kiln.Modules.Callbacks;
using Kiln.Protocol;
using Kiln.Replay;
using Kiln.Runs;
using Kiln.Testing;

namespace Kiln.Core.Tests;

/// <summary>
/// Callbacks under a time budget: one that never returns is left running, disabled and ledgered <c>failed</c>, and the
/// training loop goes on — whichever of its methods hangs, whatever set the budget, and when the run is asked to stop.
/// The loop runs on a thread of its own; the test moves the manual clock once the callback is stuck.
/// </summary>
public sealed class CallbackBudgetTests
{
    /// <summary>How long a test waits for the loop or the callback thread: generous, and never a timing assertion.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private static Harness WithBudget(double seconds)
    {
        var h = new Harness();
        h.Options = h.Options with { CallbackTimeBudget = TimeSpan.FromSeconds(seconds) };
        h.Restart();
        return h;
    }

    private static string Load(string id, Gate gate, string hangIn = "handle", int after = 0, string budget = "", bool enabled = true) =>
        $$"""{"module":"cb","op":"load","id":"{{id}}","target":{"kind":"type","path":"Kiln.Core.Tests.SpinningCallback"},"init":{"gate":"{{gate.Name}}","hang_in":"{{hangIn}}","after":{{after}}},"enabled":{{(enabled ? "true" : "false")}}{{(budget == "" ? "" : ",\"time_budget_s\":" + budget)}}}""";

    /// <summary>Runs <paramref name="training"/> on a thread of its own; once the callback spins, moves the clock on by <paramref name="seconds"/>; waits for the loop.</summary>
    private static async Task Stuck(Harness h, Gate gate, double seconds, Action training)
    {
        var loop = Task.Factory.StartNew(training, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var entered = await Task.WhenAny(loop, gate.Entered.WaitAsync(Patience));
        if (entered == loop) await loop;
        h.Clock.Advance(TimeSpan.FromSeconds(seconds));
        await loop.WaitAsync(Patience);
    }

    private static LedgerEntry Line(Harness h, string op, string id) => h.Run.Ledger().Last(l => l.Module == "cb" && l.Op == op && l.Id == id);

    [Fact]
    public async Task A_handle_that_never_returns_is_left_running_disabled_and_ledgered_failed_and_training_goes_on()
    {
        using var h = WithBudget(5);
        using var gate = new Gate();
        var counter = new CountingCallback("count");
        h.Kernel.AddCallback(counter);
        var emitted = new ConcurrentQueue<string>();
        h.Env.MetricsSink = (_, values) => { foreach (var (name, _) in values) emitted.Enqueue(name); };
        h.Run.Send(Load("hang", gate, after: 2));

        await Stuck(h, gate, 5, () =>
        {
            for (long step = 0; step < 10; step++)
            {
                h.Step(step);
                if (step == 2) h.Run.Set("opt", """{"lr": 0.5}""");
            }
        });

        var failed = Line(h, "handle", "hang");
        Assert.Equal((Decision.Failed, 2L, "train_step_end", Sources.Kernel), (failed.Decision, failed.Step, failed.Event, failed.Source));
        Assert.Equal("handle(train_step_end) at step 2 timed out after 5 s", failed.Error);
        Assert.Contains("cb:hang disabled and never called again", failed.Notes);
        Assert.False(h.Kernel.IsCallbackEnabled("hang"));
        // The loop went on: every step reached the other callback (on a fresh thread), and a command sent later was applied.
        Assert.Equal(10, counter.Calls);
        Assert.Equal(0.5, h.Lr());
        Assert.Equal((Decision.Applied, 3L), h.Run.Decisions().Where(l => l.Module == "opt").Select(l => (l.Decision, l.Step)).Single());

        h.Run.Send("cb", "enable", "hang");
        h.Run.Set("cb", """{"every": 2}""", id: "hang");
        h.Step(10);
        var refused = h.Run.Decisions().TakeLast(2).ToList();
        Assert.All(refused, l => Assert.Equal(Decision.Rejected, l.Decision));
        Assert.All(refused, l => Assert.Equal("cb:hang is never called again: it was left running in handle(train_step_end) at step 2 (it may still be running); `kiln cb load hang …` loads a fresh one", l.Error));
        var dial = JsonNode.Parse(File.ReadAllText(h.Run.Files.ActuatorsPath))!.AsObject()["actuators"]!.AsArray().Single(a => (string?)a!["id"] == "hang")!;
        Assert.Equal("handle(train_step_end) at step 2", (string?)dial["info"]!["left_running"]);

        // When it returns at last, what it asks of the run is ignored: the run has moved on without it.
        gate.Dispose();
        Assert.True(gate.Left.Wait(Patience));
        Assert.DoesNotContain("zombie", emitted);
        Assert.Null(h.Env.StopRequest);

        h.Run.Send("cb", "unload", "hang");
        h.Step(11);
        var unload = Line(h, "unload", "hang");
        Assert.Equal(Decision.Applied, unload.Decision);
        Assert.Equal("Close was not called: the callback was left running in handle(train_step_end) at step 2", unload.Notes);
    }

    [Fact]
    public async Task A_budget_given_with_cb_load_overrides_the_kernels_and_is_in_the_ledger_and_the_recipe()
    {
        using var h = WithBudget(600);
        using var gate = new Gate();
        h.Step(0);
        h.Run.Send(Load("hang", gate, budget: "2.5"));
        await Stuck(h, gate, 2.5, () => h.Step(1));
        h.Step(2);

        Assert.Equal("handle(train_step_end) at step 1 timed out after 2.5 s", Line(h, "handle", "hang").Error);
        var load = Line(h, "load", "hang");
        Assert.Equal(2.5, (double)load.Params!["time_budget_s"]!);
        Assert.Equal(2.5, (double)load.Payload!["time_budget_s"]!);
        var entry = Assert.Single(RecipeFile.Export(h.Run.Ledger()), e => e.Op == "load");
        Assert.Equal(2.5, RecipeEntry.FromJson(entry.ToJson()).TimeBudgetS);
    }

    [Theory]
    [InlineData("0", "time_budget_s: a time budget is a number of seconds > 0 and <= 1000000, got 0")]
    [InlineData("-1", "time_budget_s: a time budget is a number of seconds > 0 and <= 1000000, got -1")]
    [InlineData("2e6", "time_budget_s: a time budget is a number of seconds > 0 and <= 1000000, got 2000000")]
    [InlineData("\"fast\"", "time_budget_s")]
    public void A_budget_that_is_not_a_positive_number_of_seconds_is_rejected(string budget, string error)
    {
        using var h = WithBudget(5);
        using var gate = new Gate();
        h.Run.Send(Load("x", gate, budget: budget));
        h.Step(0);
        var line = h.Run.Decisions().Single();
        Assert.Equal(Decision.Rejected, line.Decision);
        Assert.Contains(error, line.Error);
        Assert.Null(h.Kernel.GetCallback("x"));
    }

    [Fact]
    public void Only_cb_load_takes_a_budget_and_the_kernels_must_be_positive()
    {
        using var h = WithBudget(5);
        h.Kernel.AddCallback(new CountingCallback("c"));
        h.Run.Send("""{"module":"cb","op":"enable","id":"c","time_budget_s":3}""");
        h.Step(0);
        Assert.Equal("time_budget_s: only cb load takes a time budget (to change it, load cb:c again with the new one)", h.Run.Decisions().Single().Error);

        using var dir = new TempDir();
        Assert.Throws<ArgumentOutOfRangeException>(() => new KilnKernel(dir.Path, new KernelOptions { CallbackTimeBudget = TimeSpan.Zero }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new KilnKernel(dir.Path, new KernelOptions { CallbackStopGrace = TimeSpan.FromSeconds(-1) }));
    }

    [Fact]
    public async Task Kiln_yaml_sets_the_kernels_budget_and_a_callbacks_own_and_a_new_budget_loads_a_fresh_instance()
    {
        using var h = WithBudget(600);
        using var gate = new Gate();
        string Yaml(double kernel, double own) => $$"""
            version: 1
            kernel: {callback_time_budget_s: {{kernel}}}
            callbacks:
              own:
                target: {kind: type, path: Kiln.Core.Tests.SpinningCallback}
                init: {gate: {{gate.Name}}, after: 1}
                time_budget_s: {{own}}
            """;
        h.Run.WriteConfig(Yaml(3, 1));
        h.Step(0);
        h.Run.Send(Load("plain", gate, after: 1));
        await Stuck(h, gate, 1, () => h.Step(1));
        Assert.Equal("handle(train_step_end) at step 1 timed out after 1 s", Line(h, "handle", "own").Error);
        await Stuck(h, gate, 3, () => h.Step(2));
        Assert.Equal("handle(train_step_end) at step 2 timed out after 3 s", Line(h, "handle", "plain").Error);

        // Both budgets change while the run trains: the callback's own one loads it again, as a new target or init would.
        h.Run.WriteConfig(Yaml(7, 4));
        File.SetLastWriteTimeUtc(h.Run.Files.ConfigPath, DateTime.UtcNow.AddMinutes(1));
        h.Run.Send(Load("later", gate, after: 2));
        h.Step(3);
        var config = h.Run.Ledger().Last(l => l.Op == "config");
        Assert.Equal(7, (double)config.Payload!["kernel"]!["callback_time_budget_s"]!);
        var reload = Line(h, "load", "own");
        Assert.Equal((Decision.Applied, 3L, Sources.Yaml, 4.0), (reload.Decision, reload.Step, reload.Source, (double)reload.Payload!["time_budget_s"]!));
        Assert.Contains("Close was not called", reload.Notes);
        Assert.True(h.Kernel.IsCallbackEnabled("later"));
        Assert.Equal("handle(train_step_end) at step 4 timed out after 4 s", await Then(h, gate, 4, 4, "own"));
        Assert.Equal("handle(train_step_end) at step 5 timed out after 7 s", await Then(h, gate, 7, 5, "later"));
    }

    private static async Task<string?> Then(Harness h, Gate gate, double seconds, long step, string id)
    {
        await Stuck(h, gate, seconds, () => h.Step(step));
        return Line(h, "handle", id).Error;
    }

    [Theory]
    [InlineData("ctor", "load", "the constructor timed out after 5 s", "load failed; nothing changed (the constructor may still be running)")]
    [InlineData("attach", "load", "OnAttach timed out after 5 s", "the callback was not attached")]
    [InlineData("set_params", "set_params", "SetParams timed out after 5 s", "cb:x disabled and never called again")]
    [InlineData("close", "unload", null, "Close timed out after 5 s; left running")]
    [InlineData("close", "close", "Close timed out after 5 s", "left running")]
    public async Task Every_call_into_a_callback_is_under_the_budget(string hangIn, string op, string? error, string notes)
    {
        using var h = WithBudget(5);
        using var gate = new Gate();
        h.Step(0);
        h.Run.Send(Load("x", gate, hangIn, enabled: false));
        await Stuck(h, gate, 5, () =>
        {
            h.Step(1);
            if (op == "set_params") h.Run.Set("cb", """{"every": 3}""", id: "x");
            if (op == "unload") h.Run.Send("cb", "unload", "x");
            h.Run.Set("opt", """{"lr": 0.25}""");
            h.Step(2);
            if (op == "close") h.Kernel.End(2, h.Env);
        });

        var line = Line(h, op, "x");
        Assert.Equal(op == "unload" ? Decision.Applied : Decision.Failed, line.Decision);
        Assert.Equal(error, line.Error);
        Assert.Contains(notes, line.Notes);
        Assert.Equal(0.25, h.Lr());
        if (op == "set_params") Assert.False(h.Kernel.IsCallbackEnabled("x"));
    }

    [Fact]
    public async Task A_stop_request_ends_the_wait_for_a_callback_after_the_grace_whatever_its_budget()
    {
        using var stop = new CancellationTokenSource();
        using var h = new Harness();
        h.Options = h.Options with { CallbackTimeBudget = TimeSpan.FromDays(10), CallbackStopGrace = TimeSpan.FromSeconds(2), Stop = stop.Token };
        h.Restart();
        using var gate = new Gate();
        var counter = new CountingCallback("count");
        h.Kernel.AddCallback(counter);
        h.Run.Send(Load("hang", gate));
        var loop = Task.Factory.StartNew(() => { h.Step(0); h.Kernel.End(0, h.Env); }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Assert.True(await gate.Entered.WaitAsync(Patience));
        stop.Cancel();
        h.Clock.Advance(TimeSpan.FromSeconds(2));
        await loop.WaitAsync(Patience);

        var failed = Line(h, "handle", "hang");
        Assert.Equal("handle(train_step_end) at step 0 was still running 2 s after the run was asked to stop", failed.Error);
        Assert.True(counter.Closed);
        Assert.DoesNotContain(h.Run.Ledger(), l => l.Op == "close");
    }

    [Fact]
    public async Task A_run_stops_while_a_callback_hangs_and_says_stopped()
    {
        using var tmp = new TempDir("run");
        using var gate = new Gate();
        var clock = new ManualTimeProvider();
        var options = new RunOptions
        {
            Log = _ => { }, StopOnSignals = false, GitDirectory = null, Time = clock,
            Kernel = new KernelOptions { Time = clock, PollInterval = TimeSpan.Zero, CallbackTimeBudget = TimeSpan.FromDays(10) },
        };
        using var run = KilnRun.Start(tmp.Path, options);
        run.AddCallback(new SpinningCallback("hang", gate.Name, after: 3));
        var loop = Task.Factory.StartNew(() =>
        {
            for (long step = 0; !run.StopRequested; step++) run.Apply(step);
            return run.End();
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Assert.True(await gate.Entered.WaitAsync(Patience));
        run.RequestStop("asked by the test");
        clock.Advance(TimeSpan.FromSeconds(2));

        Assert.Equal(RunInfo.Stopped, await loop.WaitAsync(Patience));
        Assert.Equal(RunInfo.Stopped, RunState.Read(tmp.Path)!.Status);
        var failed = new RunDir(tmp.Path).Ledger().Single(l => l.Op == "handle");
        Assert.Equal("handle(train_step_end) at step 3 was still running 2 s after the run was asked to stop", failed.Error);
    }

    [Fact]
    public void A_call_that_takes_a_while_but_returns_within_its_budget_is_waited_for()
    {
        using var h = WithBudget(5);
        var slow = new SlowCallback();
        h.Kernel.AddCallback(slow);
        for (long step = 0; step < 3; step++) h.Step(step);
        Assert.Equal(3, slow.Calls);
        Assert.DoesNotContain(h.Run.Ledger(), l => l.Decision == Decision.Failed);
    }

    private sealed class SlowCallback : IKilnCallback
    {
        public int Calls;
        public string Id => "slow";

        // Longer than the training thread spins for, so it sleeps until the call returns (no clock moves: no timeout).
        public void Handle(string evt, KernelEnv env)
        {
            Thread.Sleep(20);
            Calls++;
        }

        public void SetParams(JsonObject parameters) { }
    }
}

/// <summary>
/// Where a <see cref="SpinningCallback"/> spins: a busy loop, as <c>while (true) { }</c> is, that only the test ends
/// (when it disposes the gate), so no core is left spinning after it.
/// </summary>
public sealed class Gate : IDisposable
{
    private static readonly ConcurrentDictionary<string, Gate> Open = new();
    private volatile bool _released;

    public Gate() => Open[Name] = this;

    public string Name { get; } = "gate-" + Guid.NewGuid().ToString("N");

    /// <summary>Released once per callback that starts spinning.</summary>
    public SemaphoreSlim Entered { get; } = new(0);

    /// <summary>Set when a spinning callback was let go and has finished what it does after.</summary>
    public ManualResetEventSlim Left { get; } = new();

    public static Gate Named(string name) => Open[name];

    public void Spin()
    {
        Entered.Release();
        while (!_released) { }
    }

    public void Dispose()
    {
        _released = true;
        Open.TryRemove(Name, out _);
    }
}

/// <summary>A callback that never returns from one of its methods (<c>hangIn</c>: ctor, attach, handle, set_params, close).</summary>
public sealed class SpinningCallback : IKilnCallback
{
    private readonly Gate _gate;
    private readonly string _hangIn;
    private readonly int _after;
    private int _calls;

    /// <param name="after">For <c>handle</c>: how many calls return before one hangs.</param>
    public SpinningCallback(string id, string gate, string hangIn = "handle", int after = 0)
    {
        Id = id;
        _gate = Gate.Named(gate);
        _hangIn = hangIn;
        _after = after;
        if (hangIn == "ctor") Spin(null);
    }

    public string Id { get; }

    public void Handle(string evt, KernelEnv env)
    {
        if (_hangIn == "handle" && ++_calls > _after) Spin(env);
    }

    public void SetParams(JsonObject parameters)
    {
        if (_hangIn == "set_params") Spin(null);
    }

    public void OnAttach(KernelEnv env)
    {
        if (_hangIn == "attach") Spin(env);
    }

    public void Close()
    {
        if (_hangIn == "close") Spin(null);
    }

    private void Spin(KernelEnv? env)
    {
        _gate.Spin();
        // Let go long after the kernel walked away: what it asks of the run now must be ignored.
        env?.Emit(("zombie", 1));
        env?.RequestStop("a callback that was left running asks the run to stop");
        _gate.Left.Set();
    }
}
