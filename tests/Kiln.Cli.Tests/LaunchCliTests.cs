using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Cli.Tests;

/// <summary><c>kiln launch</c> as a real process.</summary>
public sealed class LaunchCliTests
{
    [Fact]
    public void Launch_trains_a_built_in_run_and_says_where_it_is()
    {
        using var dir = new TempDir("launch");
        var run = Path.Combine(dir.Path, "run");
        var result = KilnProcess.Run(dir.Path, "launch", "--no-serve", "--config", "simple", "--max-steps", "30", "--run-dir", run,
            "--data-dir", dir.Sub("empty"), "--seed", "3", "--param", "eval_every=10", "hidden1=64");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("training on synthetic Gaussian blobs", result.Stdout);
        Assert.Contains($"run completed after 30 steps: {run}", result.Stdout);
        var info = JsonNode.Parse(File.ReadAllText(Path.Combine(run, RunFiles.Run)))!;
        Assert.Equal(("completed", "simple", 3L, 64), ((string?)info["status"], (string?)info["config"], (long)info["seed"]!, (int)info["params"]!["hidden1"]!));
        Assert.Equal(33, File.ReadAllLines(Path.Combine(run, RunFiles.Metrics)).Length);
        Assert.True(File.Exists(Path.Combine(run, "model.safetensors")));
        var status = KilnProcess.Run(dir.Path, "--dir", run, "status");
        Assert.Contains("launch simple, completed", status.Stdout);
    }

    [Fact]
    public void A_default_run_directory_is_created_under_runs()
    {
        using var dir = new TempDir("launch");
        var result = KilnProcess.Run(dir.Path, "launch", "--no-serve", "--config", "finetune", "--max-steps", "6", "--data-dir", dir.Sub("empty"));
        Assert.True(result.ExitCode == 0, result.ToString());
        var created = Assert.Single(Directory.GetDirectories(Path.Combine(dir.Path, "runs")));
        Assert.Matches(@"^\d{8}-\d{6}-finetune$", Path.GetFileName(created));
    }

    [Fact]
    public async Task Ctrl_c_stops_the_run_cleanly_and_it_says_so()
    {
        using var dir = new TempDir("launch");
        var run = Path.Combine(dir.Path, "run");
        using var process = KilnProcess.Start(dir.Path, null, "launch", "--no-serve", "--config", "simple", "--max-steps", "100000", "--step-delay", "0.005",
            "--run-dir", run, "--data-dir", dir.Sub("empty"));
        var stdout = process.StandardOutput.ReadToEndAsync();
        var metrics = Path.Combine(run, RunFiles.Metrics);
        var waited = 0;
        while ((!File.Exists(metrics) || new FileInfo(metrics).Length < 2000) && waited++ < 600) await Task.Delay(100);
        using (var kill = System.Diagnostics.Process.Start("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) kill.WaitForExit();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        Assert.Equal(130, process.ExitCode);
        Assert.Contains("run stopped after", await stdout);
        var info = JsonNode.Parse(File.ReadAllText(Path.Combine(run, RunFiles.Run)))!;
        Assert.Equal("stopped", (string?)info["status"]);
        Assert.True(File.Exists(Path.Combine(run, "model.safetensors")));
        foreach (var line in File.ReadAllLines(metrics)) JsonNode.Parse(line);
    }

    [Theory]
    [InlineData(2, new[] { "--config", "huge" }, "Argument 'huge' not recognized")]
    [InlineData(2, new[] { "--train-fn", "missing.dll:A.B.C" }, "assembly not found")]
    [InlineData(2, new[] { "--max-time", "0" }, "--max-time: must be > 0")]
    [InlineData(2, new[] { "--param", "novalue" }, "'novalue': expected key=value")]
    [InlineData(1, new[] { "--config", "simple", "--max-steps", "3", "--param", "depth=3" }, "--param depth: the simple config has no such parameter")]
    [InlineData(1, new[] { "--config", "simple", "--max-steps", "0" }, "--max-steps: must be > 0")]
    public void Bad_launches_fail_with_one_line(int code, string[] args, string message)
    {
        using var dir = new TempDir("launch");
        var result = KilnProcess.Run(dir.Path, ["launch", "--no-serve", "--data-dir", dir.Sub("empty"), .. args]);
        Assert.True(code == result.ExitCode, result.ToString());
        Assert.Contains(message, result.Stderr);
    }
}
