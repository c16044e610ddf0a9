using System.Text.Json.Nodes;
using Kiln.Runs;
using Kiln.Control;
using Kiln.IO;
using Kiln.Protocol;
using Kiln.Replay;
using Kiln.Testing;
using Kiln.Train.Data;
using Kiln.Train.Runs;
using Kiln.Train.Runs.BuiltIn;
using Kiln.Train.Serialization;

namespace Kiln.Train.Tests;

/// <summary>The built-in runs through the launcher: determinism, live steering, exact replay, statuses.</summary>
public sealed class RunTests
{
    /// <summary>A launch on synthetic data (an empty data directory makes the runs fall back to it).</summary>
    private static LaunchOptions Synthetic(TempDir dir, string config, string run, long steps, long seed = 7, string? param = null) => new()
    {
        Function = BuiltInRuns.Get(config),
        RunDir = dir.Sub(run),
        MaxSteps = steps,
        Seed = seed,
        DataDir = dir.Sub("no-data"),
        Params = param is null ? null : KeyValueParser.Parse(param.Split(' ')),
    };

    private static List<(long Step, JsonObject Metrics)> Phase(string runDir, string phase) =>
        File.ReadLines(Path.Combine(runDir, RunFiles.Metrics))
            .Select(l => JsonNode.Parse(l)!)
            .Where(n => (string?)n["phase"] == phase)
            .Select(n => ((long)n["step"]!, (JsonObject)n["metrics"]!))
            .ToList();

    [Fact]
    public void The_same_seed_gives_the_same_metrics_bit_for_bit_and_another_seed_does_not()
    {
        using var dir = new TempDir("determinism");
        var a = RunLauncher.Run(Synthetic(dir, "simple", "a", 60, param: "eval_every=20"));
        var b = RunLauncher.Run(Synthetic(dir, "simple", "b", 60, param: "eval_every=20"));
        var c = RunLauncher.Run(Synthetic(dir, "simple", "c", 60, seed: 8, param: "eval_every=20"));
        Assert.Equal(RunInfo.Completed, a.Status);
        var ma = new RunDir(a.RunDir).MetricLines();
        Assert.Equal(63, ma.Count);
        Assert.Equal(ma, new RunDir(b.RunDir).MetricLines());
        Assert.NotEqual(ma, new RunDir(c.RunDir).MetricLines());
        Assert.Equal(File.ReadAllBytes(Path.Combine(a.RunDir, "model.safetensors")), File.ReadAllBytes(Path.Combine(b.RunDir, "model.safetensors")));
    }

    [Fact]
    public void A_run_learns_and_records_its_status_params_and_weights()
    {
        using var dir = new TempDir("simple");
        var logs = new List<string>();
        var result = RunLauncher.Run(Synthetic(dir, "simple", "run", 150, param: "eval_every=50"), logs.Add);
        Assert.Equal(RunInfo.Completed, result.Status);
        Assert.Contains(logs, l => l.Contains("training on synthetic Gaussian blobs", StringComparison.Ordinal));
        var val = Phase(result.RunDir, "val");
        Assert.Equal([49L, 99L, 149L], val.Select(v => v.Step));
        Assert.True((double)val[^1].Metrics["val_accuracy"]! > 0.9, val[^1].Metrics.ToJsonString());
        var train = Phase(result.RunDir, "train");
        Assert.Equal(150, train.Count);
        Assert.True((double)train[^1].Metrics["train_loss"]! < (double)train[0].Metrics["train_loss"]!);
        foreach (var name in new[] { "train_loss", "accuracy", "lr", "grad_norm" }) Assert.True(train[0].Metrics.ContainsKey(name), name);

        var info = RunInfo.FromJson(JsonNode.Parse(File.ReadAllText(Path.Combine(result.RunDir, RunFiles.Run))));
        Assert.Equal((RunInfo.Completed, "simple", 7L, "synthetic"), (info.Status, info.Config, info.Seed, (string?)info.Params!["dataset"]));
        Assert.Equal(150, (long)info.Params["max_steps"]!);
        Assert.Equal(50, (int)info.Params["eval_every"]!);
        Assert.NotNull(info.End);

        var (weights, meta) = Safetensors.Load(Path.Combine(result.RunDir, "model.safetensors"));
        Assert.Equal(["1.bias", "1.weight", "3.bias", "3.weight", "5.bias", "5.weight"], weights.Keys.Order(StringComparer.Ordinal));
        Assert.Equal([256, 784], weights["1.weight"].Shape);
        Assert.Equal("simple", meta["config"]);
    }

    [Fact]
    public void Commands_steer_the_running_trainer_and_the_recipe_replays_the_run_exactly()
    {
        using var dir = new TempDir("steer");
        var options = Synthetic(dir, "multitask", "original", 120, param: "eval_every=40") with { StepDelay = TimeSpan.FromMilliseconds(3) };
        var control = new RunControl(options.RunDir!);
        var sent = new List<string>();
        var result = RunLauncher.Run(options, progress: (step, _) =>
        {
            // Steered while it trains, as someone at the command line would.
            if (step == 30 && sent.Count == 0) sent.Add(control.SetParams("opt", null, KeyValueParser.Parse(["lr=0.0005"])).Cid!);
            if (step == 60 && sent.Count == 1) sent.Add(control.SetParams("loss", null, KeyValueParser.Parse(["recon_w=3", """ramps.cls={"type":"linear","end_step":100,"start":0.5,"end":1}"""])).Cid!);
            if (step == 90 && sent.Count == 2) sent.Add(control.SetParams("opt", null, KeyValueParser.Parse(["clip_norm=0.5", "weight_decay=0.01"])).Cid!);
        });
        Assert.Equal(RunInfo.Completed, result.Status);
        var ledger = Kiln.Kernel.Ledger.ReadAll(Path.Combine(result.RunDir, RunFiles.Ledger));
        var applied = ledger.Where(l => sent.Contains(l.Cid!)).ToList();
        Assert.Equal(3, applied.Count);
        Assert.All(applied, l => Assert.Equal(Decision.Applied, l.Decision));
        var lrChange = applied[0].Step!.Value;
        Assert.InRange(lrChange, 30, 60);

        var train = Phase(result.RunDir, "train");
        // lr=0.0005 at step S rebases the cosine schedule (still warming up): step S+1 trains at 0.0005·f(S+1)/f(S).
        var schedule = new Kiln.Modules.Opt.CosineSchedule(120, 100, 0.05);
        Assert.NotEqual(0.0005, (double)train[(int)lrChange].Metrics["lr"]!, 6);
        Assert.Equal(0.0005 * schedule.Factor(lrChange + 1) / schedule.Factor(lrChange), (double)train[(int)lrChange + 1].Metrics["lr"]!, 9);
        var rampStart = applied[1].Step!.Value;
        Assert.Equal(3.0, (double)train[(int)rampStart + 1].Metrics["recon_w"]!);
        Assert.True((double)train[(int)rampStart + 1].Metrics["cls_w"]! < 0.6);

        // Replay: the same seed and the exported recipe give the original metrics exactly.
        var recipe = RecipeFile.Export(ledger);
        Assert.Equal(3, recipe.Count);
        var replay = Synthetic(dir, "multitask", "replay", 120, param: "eval_every=40");
        RecipeFile.Write(Path.Combine(replay.RunDir!, RunFiles.Recipe), recipe);
        new RunControl(replay.RunDir!).SetFreeze(new FreezeState { Mode = FreezeState.Replay, RecipePath = RunFiles.Recipe, Policy = FreezeState.Strict }, create: true);
        var replayed = RunLauncher.Run(replay);
        Assert.Equal(RunInfo.Completed, replayed.Status);
        Assert.Equal(new RunDir(result.RunDir).MetricLines(), new RunDir(replayed.RunDir).MetricLines());
    }

    [Fact]
    public void Kiln_yaml_ramps_are_interpreted_from_the_first_step()
    {
        using var dir = new TempDir("ramp");
        var options = Synthetic(dir, "multitask", "run", 41, param: "eval_every=100");
        File.WriteAllText(Path.Combine(options.RunDir!, RunFiles.Config), """
            version: 1
            loss:
              params:
                recon_w: 2
                ramps.recon: {type: linear, start_step: 0, end_step: 40, start: 0, end: 1}
            """);
        var result = RunLauncher.Run(options);
        var train = Phase(result.RunDir, "train");
        Assert.Equal(0.0, (double)train[0].Metrics["recon_w"]!);
        Assert.Equal(1.0, (double)train[20].Metrics["recon_w"]!, 9);
        Assert.Equal(2.0, (double)train[40].Metrics["recon_w"]!, 9);
    }

    [Fact]
    public void Finetune_switches_stage_with_two_groups_and_a_frozen_backbone_does_not_drift()
    {
        using var dir = new TempDir("finetune");
        var moving = RunLauncher.Run(Synthetic(dir, "finetune", "moving", 80, param: "eval_every=20"));
        var frozen = RunLauncher.Run(Synthetic(dir, "finetune", "frozen", 80, param: "eval_every=20 freeze_backbone=true"));
        Assert.Equal(RunInfo.Completed, moving.Status);
        var train = Phase(moving.RunDir, "train");
        Assert.Equal(1.0, (double)train[39].Metrics["stage"]!);
        Assert.Equal(1e-3, (double)train[39].Metrics["lr_backbone"]!, 12);
        Assert.Equal(1e-3, (double)train[39].Metrics["lr_head"]!, 12);
        Assert.Equal(2.0, (double)train[40].Metrics["stage"]!);
        Assert.Equal(1e-4, (double)train[40].Metrics["lr_backbone"]!, 12);
        var val = Phase(moving.RunDir, "val");
        Assert.True((double)val[^1].Metrics["feature_drift"]! > 0);
        Assert.True(val[^1].Metrics.ContainsKey("val_accuracy_old"));
        var frozenVal = Phase(frozen.RunDir, "val");
        Assert.Equal(0.0, (double)frozenVal[^1].Metrics["feature_drift"]!, 12);
        Assert.Equal(0.0, (double)Phase(frozen.RunDir, "train")[^1].Metrics["lr_backbone"]!);
    }

    [Fact]
    public void Stopping_failing_and_running_out_of_time_are_recorded()
    {
        using var dir = new TempDir("status");
        using var cancel = new CancellationTokenSource();
        var stopped = RunLauncher.Run(Synthetic(dir, "simple", "stopped", 10_000), progress: (s, _) => { if (s == 5) cancel.Cancel(); }, cancel: cancel.Token);
        Assert.Equal(RunInfo.Stopped, stopped.Status);
        Assert.InRange(stopped.LastStep!.Value, 5, 6);

        var timed = RunLauncher.Run(Synthetic(dir, "simple", "timed", 100_000) with { MaxTime = TimeSpan.FromSeconds(2) });
        Assert.Equal(RunInfo.Completed, timed.Status);
        Assert.InRange(timed.LastStep!.Value, 1, 99_999);

        var failed = RunLauncher.Run(Synthetic(dir, "simple", "failed", 10, param: "nonsense=1"));
        Assert.Equal(RunInfo.Failed, failed.Status);
        Assert.Contains("--param nonsense: the simple config has no such parameter", failed.Error);
        var info = RunInfo.FromJson(JsonNode.Parse(File.ReadAllText(Path.Combine(failed.RunDir, RunFiles.Run))));
        Assert.Equal((RunInfo.Failed, failed.Error), (info.Status, info.Error));
    }

    [Fact]
    public void A_strict_replay_whose_entries_never_come_fails_the_run()
    {
        using var dir = new TempDir("strict");
        var options = Synthetic(dir, "simple", "run", 20);
        File.WriteAllText(Path.Combine(options.RunDir!, RunFiles.Recipe), """{"at":{"step":500,"event":"train_step_end"},"module":"opt","op":"set_params","params":{"lr":0.1}}""" + "\n");
        new RunControl(options.RunDir!).SetFreeze(new FreezeState { Mode = FreezeState.Replay, RecipePath = RunFiles.Recipe, Policy = FreezeState.Strict }, create: true);
        var result = RunLauncher.Run(options);
        Assert.Equal(RunInfo.Failed, result.Status);
        Assert.Contains("strict replay: 1 recipe entry was never applied", result.Error);
    }

    [Fact]
    public void Training_functions_come_from_assemblies_in_either_shape()
    {
        using var dir = new TempDir("fn");
        var assembly = typeof(RunTests).Assembly.Location;
        var ctxFn = TrainFunction.FromAssembly($"{assembly}:Kiln.Train.Tests.SampleTrainFunctions.ContextTrain");
        var result = RunLauncher.Run(new LaunchOptions { Function = ctxFn, RunDir = dir.Sub("ctx"), MaxSteps = 5 });
        Assert.Equal(RunInfo.Completed, result.Status);
        Assert.Equal(5, Phase(result.RunDir, "train").Count);

        var raw = TrainFunction.FromAssembly($"{assembly}:Kiln.Train.Tests.SampleTrainFunctions.RawTrain");
        var rawResult = RunLauncher.Run(new LaunchOptions { Function = raw, RunDir = dir.Sub("raw"), MaxSteps = 9, StepDelay = TimeSpan.FromSeconds(0.5) });
        Assert.Equal(RunInfo.Completed, rawResult.Status);
        Assert.Equal("9 0.5 True", File.ReadAllText(Path.Combine(rawResult.RunDir, "raw.txt")));

        var throwing = RunLauncher.Run(new LaunchOptions { Function = TrainFunction.FromMethod(typeof(SampleTrainFunctions), nameof(SampleTrainFunctions.Throwing), "throwing"), RunDir = dir.Sub("throw"), MaxSteps = 1 });
        Assert.Equal((RunInfo.Failed, "InvalidOperationException: the data is gone"), (throwing.Status, throwing.Error));
    }

    [Theory]
    [InlineData("nowhere.dll:A.B.C", "assembly not found")]
    [InlineData("Train.cs:A.B.C", "C# source files are compiled by Kiln.Scripting")]
    [InlineData("{asm}:Kiln.Train.Tests.Missing.Train", "no type Kiln.Train.Tests.Missing")]
    [InlineData("{asm}:Kiln.Train.Tests.SampleTrainFunctions.Nope", "has no public static method Nope")]
    [InlineData("{asm}:Kiln.Train.Tests.SampleTrainFunctions.WrongShape", "must take (TrainContext)")]
    [InlineData("{asm}", "expected <assembly.dll>:<Namespace.Type.Method>")]
    public void Bad_training_functions_are_named_errors(string spec, string error)
    {
        var full = spec.Replace("{asm}", typeof(RunTests).Assembly.Location, StringComparison.Ordinal);
        var ex = Assert.Throws<ProtocolException>(() => TrainFunction.FromAssembly(full));
        Assert.Contains(error, ex.Message);
    }

    [Fact]
    public void Unknown_configs_are_rejected_by_name() =>
        Assert.Contains("unknown config \"big\" (known: simple, multitask, finetune)", Assert.Throws<ProtocolException>(() => BuiltInRuns.Get("big")).Message);

    [Fact]
    public void Fashion_mnist_trains_to_a_useful_accuracy()
    {
        Assert.True(FashionMnist.TryLoad(null, out _, out _, out var reason),
            $"{reason} — install Debian's dataset-fashion-mnist (scripts/setup.sh does)");
        using var dir = new TempDir("fmnist");
        var result = RunLauncher.Run(new LaunchOptions { Function = BuiltInRuns.Get("simple"), RunDir = dir.Sub("run"), MaxSteps = 300, Params = KeyValueParser.Parse(["eval_every=300"]) });
        Assert.Equal(RunInfo.Completed, result.Status);
        Assert.True(result.LastMetrics["val_accuracy"] > 0.78, $"val_accuracy {result.LastMetrics["val_accuracy"]}");
    }

    [Fact]
    public void A_state_dict_loads_into_a_fresh_model_and_predicts_the_same()
    {
        var rng = new Kiln.Train.Tensors.Rng(3);
        var a = new MultitaskNet(16, 4, 8, 3, rng);
        var b = new MultitaskNet(16, 4, 8, 3, new Kiln.Train.Tensors.Rng(4));
        b.LoadStateDict(Safetensors.Deserialize(Safetensors.Serialize(a.StateDict())).Tensors);
        var x = new Kiln.Train.Tensors.Tensor([2, 16]);
        rng.FillUniform(x.Span, 0, 1);
        Assert.Equal(a.Forward(x).ToArray(), b.Forward(x).ToArray());
        var wrong = a.StateDict();
        wrong.Remove("cls_head.bias");
        Assert.Contains("missing [cls_head.bias]", Assert.Throws<ArgumentException>(() => b.LoadStateDict(wrong)).Message);
    }
}

/// <summary>Training functions for the launcher tests, in both accepted shapes and some that are not.</summary>
public static class SampleTrainFunctions
{
    public static void ContextTrain(TrainContext ctx)
    {
        for (long s = 0; s < ctx.MaxSteps; s++)
        {
            ctx.Record(s, "train", [("x", s)]);
            ctx.Kernel.Apply(s, "train_step_end", ctx.Env);
        }
    }

    public static void RawTrain(string runDir, long maxSteps, double stepDelay, CancellationToken stop) =>
        File.WriteAllText(Path.Combine(runDir, "raw.txt"), $"{maxSteps} {stepDelay} {stop.CanBeCanceled}");

    public static void Throwing(TrainContext ctx) => throw new InvalidOperationException("the data is gone");

    public static int WrongShape(int x) => x;
}
