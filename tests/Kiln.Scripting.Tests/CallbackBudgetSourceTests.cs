using System.Reflection;
using Kiln.Kernel;
using Kiln.Modules;
using Kiln.Protocol;
using Kiln.Scripting.Standalone;
using Kiln.Testing;
using static Kiln.Scripting.Tests.ScriptRuns;

namespace Kiln.Scripting.Tests;

/// <summary>A callback compiled from C# whose <c>Handle</c> never returns: the kernel, and the standalone controller, walk away from it.</summary>
[Collection("scripts")]
public sealed class CallbackBudgetSourceTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    /// <summary>
    /// <c>while (true) { }</c> in <c>Handle</c>, except that the test can end it (a static it sets once the kernel has
    /// walked away), so no core is left spinning after the test. It says it is stuck with a file in the run directory.
    /// </summary>
    private const string Hang = """
        public sealed class Hang(string id) : IKilnCallback
        {
            public static volatile bool Release;
            public string Id { get; } = id;
            public void SetParams(JsonObject p) { }
            public void Handle(string evt, KernelEnv env)
            {
                File.WriteAllText(Path.Combine(env.RunDir!, "stuck"), $"{evt} {env.Step}");
                while (!Release) { }
            }
        }
        """;

    /// <summary>Runs <paramref name="training"/> on a thread of its own; once the callback is stuck, moves <paramref name="clock"/> on; waits for the loop.</summary>
    private static async Task Stuck(string dir, ManualTimeProvider clock, double seconds, Action training)
    {
        var loop = Task.Factory.StartNew(training, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        await Wait.UntilAsync(() => File.Exists(Path.Combine(dir, "stuck")) || loop.IsCompleted, "the callback to be stuck");
        clock.Advance(TimeSpan.FromSeconds(seconds));
        await loop.WaitAsync(Patience);
    }

    private static void Release(object? callback) =>
        callback?.GetType().GetField("Release", BindingFlags.Public | BindingFlags.Static)!.SetValue(null, true);

    [Fact]
    public async Task A_source_callback_that_never_returns_is_disabled_and_ledgered_failed_and_training_goes_on()
    {
        using var h = NewHarness();
        h.Options = h.Options with { CallbackTimeBudget = TimeSpan.FromSeconds(3) };
        using var kernel = SourceKernel(h);
        Load(h, "hang", Write(h, "Hang.cs", Hang), "Hang");
        await Stuck(h.Dir, h.Clock, 3, () =>
        {
            for (long step = 0; step < 5; step++) kernel.Apply(step, "train_step_end", h.Env);
        });
        h.Run.Set("opt", """{"lr": 0.125}""");
        h.Run.Send("cb", "enable", "hang");
        kernel.Apply(5, "train_step_end", h.Env);
        Release(kernel.GetCallback("hang"));

        var failed = Assert.Single(h.Run.Ledger(), l => l.Op == "handle");
        Assert.Equal((Decision.Failed, 0L), (failed.Decision, failed.Step));
        Assert.Equal("handle(train_step_end) at step 0 timed out after 3 s", failed.Error);
        Assert.Contains("never called again", failed.Notes);
        Assert.False(kernel.IsCallbackEnabled("hang"));
        Assert.Equal(0.125, h.Lr());
        Assert.Equal(Decision.Rejected, h.Run.Ledger().Last().Decision);
        Assert.Equal("train_step_end 0", File.ReadAllText(Path.Combine(h.Dir, "stuck")));
    }

    [Fact]
    public async Task The_standalone_controller_walks_away_from_a_callback_that_never_returns()
    {
        using var dir = new TempDir("standalone-budget");
        File.WriteAllText(dir.File("Hang.cs"), Hang);
        File.WriteAllText(dir.File("Heartbeat.cs"), Sources.Heartbeat);
        File.WriteAllText(dir.File("callbacks.yaml"), """
            version: 1
            kernel: {poll_interval_ms: 0, callback_time_budget_s: 10}
            callbacks:
              hang:
                target: {kind: file, path: Hang.cs}
                time_budget_s: 1.5
              beat:
                target: {kind: file, path: Heartbeat.cs}
                init: {every: 1}
            """);
        var clock = new ManualTimeProvider();
        var log = new List<string>();
        var env = new KernelEnv { Log = log.Add };
        using (var controller = new CallbackController(dir.File("callbacks.yaml"), dir.File("callbacks.commands.jsonl"), new KernelOptions { Time = clock }))
        {
            await Stuck(dir.Path, clock, 1.5, () =>
            {
                for (long step = 0; step < 3; step++) controller.Handle(step, "train_step_end", env);
            });
            Kiln.IO.JsonlFile.Append(dir.File("callbacks.commands.jsonl"), """{"cid":"c1","module":"cb","op":"set_params","id":"beat","params":{"every":2}}"""u8.ToArray());
            controller.Handle(4, "train_step_end", env);
            Assert.False(controller.IsEnabled("hang"));
            Assert.True(controller.IsEnabled("beat"));
            Release(controller.Get("hang"));
        }
        Assert.Equal(["[beat] train_step_end step=0", "[beat] train_step_end step=1", "[beat] train_step_end step=2", "[beat] train_step_end step=4"], log);
        var ledger = Kiln.Kernel.Ledger.ReadAll(dir.File(RunFiles.Ledger));
        Assert.Equal("handle(train_step_end) at step 0 timed out after 1.5 s", Assert.Single(ledger, l => l.Op == "handle").Error);
        Assert.Contains(ledger, l => l.Cid == "c1" && l.Decision == Decision.Applied);
    }
}
