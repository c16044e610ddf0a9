using System.Text.Json.Nodes;
using Kiln.Control;
using Kiln.IO;
using Kiln.Protocol;
using Kiln.Runs;
using Kiln.Testing;
using Kiln.Train.Runs;
using Xunit.Abstractions;

namespace Kiln.Train.Tests;

/// <summary>Checkpoints of the built-in runs: a run stopped and resumed is the run that was never stopped, bit for bit.</summary>
public sealed class ResumeTests(ITestOutputHelper output)
{
    private static LaunchOptions Synthetic(TempDir dir, string config, string run, long steps, string param) => new()
    {
        Function = BuiltInRuns.Get(config),
        RunDir = dir.Sub(run),
        MaxSteps = steps,
        Seed = 11,
        DataDir = dir.Sub("no-data"),
        Params = KeyValueParser.Parse(param.Split(' ')),
    };

    /// <summary>Runs until the train metrics pass <paramref name="at"/>, then asks the run to stop, as SIGTERM would.</summary>
    private static LaunchResult StoppedAt(LaunchOptions options, long at)
    {
        using var stop = new CancellationTokenSource();
        return RunLauncher.Run(options, progress: (step, _) => { if (step >= at) stop.Cancel(); }, cancel: stop.Token);
    }

    [Theory]
    [InlineData("simple")]
    [InlineData("multitask")]
    public void A_run_stopped_at_a_random_step_and_resumed_equals_the_uninterrupted_run(string config)
    {
        using var dir = new TempDir("resume");
        const long steps = 90;
        var at = Random.Shared.NextInt64(1, steps - 2);
        output.WriteLine($"stopped at step {at}");
        var whole = RunLauncher.Run(Synthetic(dir, config, "whole", steps, "eval_every=25 batch_size=32"));
        Assert.Equal(RunInfo.Completed, whole.Status);

        var parts = Synthetic(dir, config, "parts", steps, "eval_every=25 batch_size=32");
        var first = StoppedAt(parts, at);
        Assert.Equal(RunInfo.Stopped, first.Status);
        var checkpoint = RunCheckpoint.Read(first.RunDir)!;
        Assert.Equal(at + 1, checkpoint.Step);
        var resumed = RunLauncher.Run(parts with { Resume = true });
        Assert.Equal(RunInfo.Completed, resumed.Status);

        Assert.Equal(new RunDir(whole.RunDir).MetricLines(), new RunDir(resumed.RunDir).MetricLines());
        Assert.Equal(File.ReadAllBytes(Path.Combine(whole.RunDir, "model.safetensors")), File.ReadAllBytes(Path.Combine(resumed.RunDir, "model.safetensors")));
    }

    [Theory]
    [InlineData(20)] // in pre-training
    [InlineData(44)] // its last step: the checkpoint is stage 2's, before its first step
    [InlineData(61)] // in fine-tuning, with the backbone's features at the switch in the checkpoint
    public void Finetune_stopped_in_either_stage_or_at_the_switch_resumes_into_the_uninterrupted_run(long at)
    {
        using var dir = new TempDir("resume-finetune");
        const long steps = 90;
        var whole = RunLauncher.Run(Synthetic(dir, "finetune", "whole", steps, "eval_every=20 batch_size=32"));
        Assert.Equal(RunInfo.Completed, whole.Status);
        var parts = Synthetic(dir, "finetune", "parts", steps, "eval_every=20 batch_size=32");
        var first = StoppedAt(parts, at);
        Assert.Equal(RunInfo.Stopped, first.Status);
        Assert.Equal(at + 1, RunCheckpoint.Read(first.RunDir)!.Step);
        var resumed = RunLauncher.Run(parts with { Resume = true });
        Assert.Equal(RunInfo.Completed, resumed.Status);
        Assert.Equal(new RunDir(whole.RunDir).MetricLines(), new RunDir(resumed.RunDir).MetricLines());
        Assert.Equal(File.ReadAllBytes(Path.Combine(whole.RunDir, "model.safetensors")), File.ReadAllBytes(Path.Combine(resumed.RunDir, "model.safetensors")));
    }

    [Fact]
    public void A_run_that_died_resumes_from_its_last_periodic_checkpoint_and_the_metrics_after_it_are_cut()
    {
        using var dir = new TempDir("resume-crash");
        var whole = RunLauncher.Run(Synthetic(dir, "multitask", "whole", 70, "eval_every=20 batch_size=32"));
        var parts = Synthetic(dir, "multitask", "parts", 70, "eval_every=20 batch_size=32") with { CheckpointEvery = 15 };
        // A crash between checkpoints: steps 30–37 are in the metrics but not in the checkpoint of step 30.
        var crashed = RunLauncher.Run(parts, progress: (step, _) => { if (step == 37) throw new InvalidOperationException("crash"); });
        Assert.Equal(RunInfo.Failed, crashed.Status);
        Assert.Equal(30, RunCheckpoint.Read(crashed.RunDir)!.Step);

        var resumed = RunLauncher.Run(parts with { Resume = true });
        Assert.Equal(RunInfo.Completed, resumed.Status);
        Assert.Equal(new RunDir(whole.RunDir).MetricLines(), new RunDir(resumed.RunDir).MetricLines());
    }

    [Fact]
    public void Commands_before_and_after_the_stop_are_applied_once_and_the_changed_dials_survive_the_resume()
    {
        using var dir = new TempDir("resume-commands");
        var options = Synthetic(dir, "simple", "run", 60, "eval_every=20 batch_size=32");
        var control = new RunControl(options.RunDir!);
        string? before = null;
        using (var stop = new CancellationTokenSource())
        {
            var first = RunLauncher.Run(options, progress: (step, _) =>
            {
                if (step == 5 && before is null) before = control.SetParams("opt", null, KeyValueParser.Parse(["lr=0.0003"])).Cid!;
                if (step >= 25 && File.Exists(Path.Combine(options.RunDir!, RunFiles.Ledger))
                    && Kiln.Kernel.Ledger.ReadAll(Path.Combine(options.RunDir!, RunFiles.Ledger)).Any(l => l.Cid == before)) stop.Cancel();
            }, cancel: stop.Token);
            Assert.Equal(RunInfo.Stopped, first.Status);
        }
        var after = control.SetParams("opt", null, KeyValueParser.Parse(["weight_decay=0.001"])).Cid!;
        var resumed = RunLauncher.Run(options with { Resume = true });
        Assert.Equal(RunInfo.Completed, resumed.Status);

        var ledger = Kiln.Kernel.Ledger.ReadAll(Path.Combine(resumed.RunDir, RunFiles.Ledger));
        Assert.Single(ledger, l => l.Cid == before);
        Assert.Single(ledger, l => l.Cid == after);
        Assert.All(ledger.Where(l => l.Cid == before || l.Cid == after), l => Assert.Equal(Decision.Applied, l.Decision));
        // The lr set before the stop is the lr after the resume: the dial came back from the checkpoint, not the config.
        var last = JsonNode.Parse(File.ReadLines(Path.Combine(resumed.RunDir, RunFiles.Metrics)).Last(l => l.Contains("\"train\"", StringComparison.Ordinal)))!;
        Assert.Equal(0.0003, (double)last["metrics"]!["lr"]!);
        var steps = File.ReadLines(Path.Combine(resumed.RunDir, RunFiles.Metrics)).Select(l => JsonNode.Parse(l)!)
            .Where(n => (string?)n["phase"] == "train").Select(n => (long)n["step"]!).ToList();
        Assert.Equal(Enumerable.Range(0, 60).Select(i => (long)i), steps);
    }

    [Fact]
    public void Changes_applied_after_the_last_checkpoint_of_a_run_that_died_are_made_again_at_their_steps()
    {
        using var dir = new TempDir("resume-catch-up");
        var parts = Synthetic(dir, "multitask", "parts", 70, "eval_every=20 batch_size=32") with { CheckpointEvery = 15 };
        var control = new RunControl(parts.RunDir!);
        string? sent = null;
        // Commands are sent after the checkpoint of step 30, then the process dies at step 40 (no checkpoint on the way out).
        var crashed = RunLauncher.Run(parts, progress: (step, _) =>
        {
            if (step == 31 && sent is null) sent = control.SetParams("opt", null, KeyValueParser.Parse(["lr=0.0004"])).Cid!;
            if (step == 34) control.SetParams("loss", null, KeyValueParser.Parse(["recon_w=2.5"]));
            if (step == 40) throw new InvalidOperationException("crash");
        });
        Assert.Equal(RunInfo.Failed, crashed.Status);
        Assert.Equal(30, RunCheckpoint.Read(crashed.RunDir)!.Step);
        var ledger = Kiln.Kernel.Ledger.ReadAll(Path.Combine(crashed.RunDir, RunFiles.Ledger));
        var changes = ledger.Where(l => l.Decision == Decision.Applied && l.Module is "opt" or "loss" && l.Source == Sources.Cli).ToList();
        Assert.Equal(2, changes.Count);
        Assert.All(changes, c => Assert.InRange(c.Step!.Value, 30, 39));

        // The run that never died: the same changes at the same steps (its recipe, replayed).
        var whole = Synthetic(dir, "multitask", "whole", 70, "eval_every=20 batch_size=32");
        Kiln.Replay.RecipeFile.Write(Path.Combine(whole.RunDir!, RunFiles.Recipe), Kiln.Replay.RecipeFile.Export(ledger));
        new RunControl(whole.RunDir!).SetFreeze(new FreezeState { Mode = FreezeState.Replay, RecipePath = RunFiles.Recipe, Policy = FreezeState.Strict }, create: true);
        Assert.Equal(RunInfo.Completed, RunLauncher.Run(whole).Status);

        var resumed = RunLauncher.Run(parts with { Resume = true });
        Assert.Equal(RunInfo.Completed, resumed.Status);
        Assert.Equal(new RunDir(whole.RunDir!).MetricLines(), new RunDir(resumed.RunDir).MetricLines());
        var after = Kiln.Kernel.Ledger.ReadAll(Path.Combine(resumed.RunDir, RunFiles.Ledger));
        // Read once from the inbox; made again once, under the id of the line it repeats.
        Assert.Single(after, l => l.Cid == sent);
        foreach (var c in changes)
        {
            var again = Assert.Single(after, l => l.Cid == $"resume:{c.Seq}");
            Assert.Equal((Sources.Resume, Decision.Applied, c.Step), (again.Source, again.Decision, again.Step));
        }
    }

    [Fact]
    public void A_callback_loaded_by_command_before_the_stop_is_loaded_again_with_its_params_and_switch()
    {
        using var dir = new TempDir("resume-callbacks");
        var options = Synthetic(dir, "simple", "run", 60, "eval_every=20 batch_size=32");
        var control = new RunControl(options.RunDir!);
        using (var stop = new CancellationTokenSource())
        {
            var sent = 0;
            var first = RunLauncher.Run(options, progress: (step, _) =>
            {
                if (step == 3 && sent == 0)
                {
                    sent++;
                    control.Send(new Command { Module = "cb", Op = "load", Id = "norms", Target = new CallbackTarget(CallbackTarget.TypeKind, "Kiln.Callbacks.GradientNorms", null) });
                    control.SetParams("cb", "norms", KeyValueParser.Parse(["every=7"]));
                    control.Send(new Command { Module = "cb", Op = "disable", Id = "norms" });
                    control.Send(new Command { Module = "cb", Op = "load", Id = "gone", Target = new CallbackTarget(CallbackTarget.TypeKind, "Kiln.Callbacks.Timing", null) });
                    control.Send(new Command { Module = "cb", Op = "unload", Id = "gone" });
                }
                if (step >= 20) stop.Cancel();
            }, cancel: stop.Token);
            Assert.Equal(RunInfo.Stopped, first.Status);
        }
        var resumed = RunLauncher.Run(options with { Resume = true });
        Assert.Equal(RunInfo.Completed, resumed.Status);
        var again = Kiln.Kernel.Ledger.ReadAll(Path.Combine(resumed.RunDir, RunFiles.Ledger)).Where(l => l.Source == Sources.Resume).ToList();
        Assert.Equal([("load", "norms"), ("set_params", "norms")], again.Select(l => (l.Op!, l.Id!)));
        Assert.All(again, l => Assert.Equal((Decision.Applied, KernelEvents.Start), (l.Decision, l.Event)));
        Assert.Equal(7, (int)again[1].Payload!["every"]!);
        Assert.False((bool)again[0].Payload!["enabled"]!);
        Assert.DoesNotContain(Kiln.Replay.RecipeFile.Export(Kiln.Kernel.Ledger.ReadAll(Path.Combine(resumed.RunDir, RunFiles.Ledger))), e => e.Step < 3);
    }

    [Fact]
    public void Resuming_a_directory_without_a_checkpoint_says_so()
    {
        using var dir = new TempDir("resume-none");
        var ex = Assert.Throws<ProtocolException>(() => RunLauncher.Run(Synthetic(dir, "simple", "run", 10, "eval_every=5") with { Resume = true }));
        Assert.Contains("no checkpoint", ex.Message);
    }
}
