using System.Text.Json.Nodes;
using Kiln.Runs;
using Kiln.Callbacks;
using Kiln.Protocol;
using Kiln.Testing;
using Kiln.Train.Runs;
using Kiln.Train.Serialization;

namespace Kiln.Train.Tests;

/// <summary>The built-in callbacks, declared in kiln.yaml of a real run.</summary>
public sealed class BuiltInCallbackTests
{
    private static LaunchResult Launch(TempDir dir, string yaml, long steps, List<string>? log = null)
    {
        var run = dir.Sub("run");
        File.WriteAllText(Path.Combine(run, RunFiles.Config), yaml);
        return RunLauncher.Run(new LaunchOptions
        {
            Function = BuiltInRuns.Get("simple"), RunDir = run, MaxSteps = steps, Seed = 5, DataDir = dir.Sub("no-data"),
            Params = new JsonObject { ["eval_every"] = 10, ["hidden1"] = 32, ["hidden2"] = 16 },
        }, log is null ? null : log.Add);
    }

    private static List<JsonObject> CallbackMetrics(string run) =>
        File.ReadLines(Path.Combine(run, RunFiles.Metrics)).Select(l => JsonNode.Parse(l)!.AsObject())
            .Where(o => (string?)o["phase"] == "callback").Select(o => o["metrics"]!.AsObject()).ToList();

    [Fact]
    public void Timing_gradient_norms_heartbeat_and_the_metric_logger_report()
    {
        using var dir = new TempDir("builtin");
        var log = new List<string>();
        var result = Launch(dir, """
            version: 1
            callbacks:
              timing: {target: {kind: type, path: Kiln.Callbacks.Timing}, init: {every: 10}}
              grads: {target: {kind: type, path: Kiln.Callbacks.GradientNorms}, init: {every: 15}}
              beat: {target: {kind: type, path: Kiln.Callbacks, symbol: Heartbeat}, init: {every: 20}}
              logger: {target: {kind: type, path: Kiln.Callbacks.MetricLogger}, init: {every: 25, metrics: [train_loss, lr]}}
            """, 30, log);
        Assert.Equal(RunInfo.Completed, result.Status);
        var metrics = CallbackMetrics(result.RunDir);
        Assert.Equal(2, metrics.Count(m => m.ContainsKey("step_ms_mean")));
        Assert.Equal(2, metrics.Count(m => m.ContainsKey("grad_norm/1.weight")));
        var grads = metrics.First(m => m.ContainsKey("grad_norm_max"));
        Assert.True((double)grads["grad_norm_max"]! > 0);
        Assert.Contains("[beat] train_step_end step=20", log);
        Assert.Contains(log, l => l.StartsWith("[logger] step 25: train_loss=", StringComparison.Ordinal) && l.Contains(" lr=0.001", StringComparison.Ordinal));
        Assert.Contains(log, l => l.StartsWith("[timing] step 10: ", StringComparison.Ordinal));
    }

    [Fact]
    public void Activation_statistics_go_to_kiln_features_jsonl()
    {
        using var dir = new TempDir("builtin");
        var result = Launch(dir, """
            version: 1
            callbacks:
              features: {target: {kind: type, path: Kiln.Callbacks.ActivationStats}, init: {every: 10, bins: 8}}
            """, 21);
        var lines = File.ReadLines(Path.Combine(result.RunDir, ActivationStats.FileName)).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(3 * 6, lines.Count);                                  // steps 0, 10, 20 × six layers
        Assert.Equal(["0", "1", "2", "3", "4", "5"], lines.Take(6).Select(l => (string)l["layer"]!));
        var relu = lines.First(l => (string?)l["type"] == "ReLU");
        Assert.True((double)relu["min"]! >= 0);
        Assert.True((double)relu["zero_frac"]! > 0);
        Assert.Equal(8, relu["hist"]!["counts"]!.AsArray().Count);
        Assert.Equal(128 * 32, relu["hist"]!["counts"]!.AsArray().Sum(c => (int)c!));
    }

    [Fact]
    public void Checkpoints_keep_the_last_k_and_load_back()
    {
        using var dir = new TempDir("builtin");
        var result = Launch(dir, """
            version: 1
            callbacks:
              ckpt: {target: {kind: type, path: Kiln.Callbacks.Checkpoint}, init: {every: 10, keep: 2}}
            """, 45);
        var files = Directory.GetFiles(Path.Combine(result.RunDir, "checkpoints")).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["step_00000030.safetensors", "step_00000040.safetensors"], files);
        var (tensors, meta) = Safetensors.Load(Path.Combine(result.RunDir, "checkpoints", "step_00000040.safetensors"));
        Assert.Equal("40", meta["step"]);
        Assert.Equal([32, 784], tensors["1.weight"].Shape);
    }

    [Fact]
    public void Early_stopping_ends_the_run_and_says_why()
    {
        using var dir = new TempDir("builtin");
        var log = new List<string>();
        var result = Launch(dir, """
            version: 1
            callbacks:
              stop: {target: {kind: type, path: Kiln.Callbacks.EarlyStopping}, init: {metric: val_accuracy, mode: max, patience: 2, min_delta: 1.0}}
            """, 500, log);
        Assert.Equal(RunInfo.Completed, result.Status);
        Assert.Equal(29, result.LastStep);                                    // evaluations at 9, 19, 29: the 2nd and 3rd do not improve by 1.0
        Assert.Contains(log, l => l.StartsWith("[stop] early stopping at step 29: val_accuracy has not improved for 2 evaluations", StringComparison.Ordinal));
        var info = JsonNode.Parse(File.ReadAllText(Path.Combine(result.RunDir, RunFiles.Run)))!;
        Assert.StartsWith("[stop] early stopping", (string?)info["params"]!["early_stop"]);
    }

    [Theory]
    [InlineData("Kiln.Callbacks.Timing", "{every: 0}", "every: must be >= 1, got 0")]
    [InlineData("Kiln.Callbacks.EarlyStopping", "{mode: sideways}", "mode: expected min or max")]
    [InlineData("Kiln.Callbacks.Checkpoint", "{dir: ../outside}", "dir: must be a folder inside the run")]
    [InlineData("Kiln.Callbacks.ActivationStats", "{bins: 0}", "bins: must be in [1, 1000]")]
    public void Bad_settings_are_refused_with_the_key(string type, string init, string error)
    {
        using var dir = new TempDir("builtin");
        var result = Launch(dir, $"version: 1\ncallbacks:\n  x: {{target: {{kind: type, path: {type}}}, init: {init}}}\n", 2);
        var load = Assert.Single(Kiln.Kernel.Ledger.ReadAll(Path.Combine(result.RunDir, RunFiles.Ledger)), l => l.Op == "load");
        Assert.Equal(Decision.Failed, load.Decision);
        Assert.Contains(error, load.Error);
    }
}
