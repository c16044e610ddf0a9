using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Runs;
using Kiln.Testing;

namespace Kiln.Cli.Tests;

/// <summary>Steering commands that answer: <c>--wait</c> prints the kernel's decision, and a finished run is said to be one.</summary>
public sealed class SteeringCliTests
{
    [Fact]
    public async Task Wait_prints_the_kernel_s_decision_and_exits_non_zero_unless_applied()
    {
        using var dir = new TempDir("steer");
        var run = Path.Combine(dir.Path, "run");
        using var trainer = KilnProcess.Start(dir.Path, null, "launch", "--no-serve", "--config", "simple", "--max-steps", "100000000",
            "--step-delay", "0.005", "--run-dir", run, "--data-dir", dir.Sub("empty"), "--plain");
        await Wait.UntilAsync(() => File.Exists(Path.Combine(run, RunFiles.Actuators)), "the run's dials");

        var applied = KilnProcess.Run(dir.Path, "--dir", run, "set", "lr=0.0005", "--wait");
        Assert.True(applied.ExitCode == 0, applied.ToString());
        Assert.Matches(@"^opt set_params main applied at step \d+ \(train_step_end\)", applied.Stdout);

        var rejected = KilnProcess.Run(dir.Path, "--dir", run, "opt", "set_params", "--id", "nope", "lr=0.1", "--wait", "20");
        Assert.Equal(1, rejected.ExitCode);
        Assert.Contains("opt set_params nope rejected", rejected.Stdout);
        Assert.Contains("no optimizer 'nope'", rejected.Stdout);

        var json = KilnProcess.Run(dir.Path, "--dir", run, "cb", "load", "timing", "--path", "Kiln.Callbacks.Timing", "--enabled", "--wait", "--json");
        Assert.True(json.ExitCode == 0, json.ToString());
        var answer = JsonNode.Parse(json.Stdout)!;
        Assert.Equal((string?)answer["command"]!["cid"], (string?)answer["decision"]!["cid"]);
        Assert.Equal("applied", (string?)answer["decision"]!["decision"]);

        Processes.Signal(trainer.Id, Processes.SigTerm);
        await trainer.WaitForExitAsync();
        var late = KilnProcess.Run(dir.Path, "--dir", run, "set", "lr=0.001");
        Assert.Equal(0, late.ExitCode);
        Assert.Contains("the run is stopped: no kernel reads this command", late.Stderr);
        var lateWait = KilnProcess.Run(dir.Path, "--dir", run, "set", "lr=0.001", "--wait");
        Assert.Equal(1, lateWait.ExitCode);
        Assert.Contains("but the run is stopped: no kernel will decide it", lateWait.Stderr);
    }

    [Fact]
    public void Wait_says_so_when_no_kernel_decides_in_time()
    {
        using var dir = new TempDir("steer");
        KilnProcess.Run(dir.Path, "--dir", "r", "init");
        var result = KilnProcess.Run(dir.Path, "--dir", "r", "cb", "enable", "timing", "--wait", "0.3");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no decision within 0.3 s", result.Stderr);
        Assert.Contains("queued", result.Stderr);
        Assert.Single(File.ReadAllLines(Path.Combine(dir.Path, "r", RunFiles.Commands)));
    }

    [Theory]
    [InlineData("1e300")]
    [InlineData("0")]
    [InlineData("NaN")]
    public void A_wait_out_of_range_is_a_usage_error_that_queues_nothing(string seconds)
    {
        using var dir = new TempDir("steer");
        KilnProcess.Run(dir.Path, "--dir", "r", "init");
        var result = KilnProcess.Run(dir.Path, "--dir", "r", "set", "lr=0.1", "--wait", seconds);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains($"--wait: must be > 0 and at most 2000000 seconds (about 23 days), got {seconds}", result.Stderr);
        Assert.Empty(File.ReadAllBytes(Path.Combine(dir.Path, "r", RunFiles.Commands)));
    }
}
