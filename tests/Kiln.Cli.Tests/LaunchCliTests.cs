using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Testing;
using Kiln.Modules;

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
        await Wait.UntilAsync(() => File.Exists(metrics) && new FileInfo(metrics).Length >= 2000, "the run's first metrics");
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

    [Fact]
    public async Task A_trainer_killed_hard_loses_no_applied_command_and_a_new_kernel_applies_none_twice()
    {
        using var dir = new TempDir("launch");
        var run = Path.Combine(dir.Path, "run");
        var files = new RunFiles(run);
        using var process = KilnProcess.Start(dir.Path, null, "launch", "--no-serve", "--config", "simple", "--max-steps", "100000000",
            "--step-delay", "0.002", "--run-dir", run, "--data-dir", dir.Sub("empty"));
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        await Wait.UntilAsync(() => File.Exists(files.ActuatorsPath) && File.Exists(files.MetricsPath) && new FileInfo(files.MetricsPath).Length > 0, "the run to start");

        foreach (var lr in new[] { "0.002", "0.003", "0.004" })
        {
            var set = KilnProcess.Run(dir.Path, "--dir", run, "set", $"lr={lr}");
            Assert.True(set.ExitCode == 0, set.ToString());
        }
        var cids = File.ReadAllLines(files.CommandsPath).Select(l => (string)JsonNode.Parse(l)!["cid"]!).ToList();
        Assert.Equal(3, cids.Count);
        await Wait.UntilAsync(() => cids.All(c => new RunDir(run).Decisions().Any(d => d.Cid == c && d.Decision == Decision.Applied)), "the three changes to be applied");

        process.Kill(); // SIGKILL: no handler runs
        await process.WaitForExitAsync();

        // Every file is readable: whole ledger lines with the three applied changes, metrics lines that parse (a torn
        // last line at most), and the run's record, still saying running.
        Assert.Equal(cids, new RunDir(run).Decisions().Where(d => d.Decision == Decision.Applied).Select(d => d.Cid!));
        var text = File.ReadAllText(files.MetricsPath);
        var lines = text.Split('\n');
        foreach (var line in lines[..^1]) JsonNode.Parse(line);
        Assert.True(lines[^1].Length == 0 || !text.EndsWith('\n'));
        var info = JsonNode.Parse(File.ReadAllText(files.RunPath))!;
        Assert.Equal(("running", process.Id), ((string?)info["status"], (int)info["pid"]!));
        var status = KilnProcess.Run(dir.Path, "--dir", run, "status");
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Contains("opt:main", status.Stdout);

        // A kernel started on the directory again takes the lock the killed process held, applies the change written
        // since, and none of the three before it.
        var late = KilnProcess.Run(dir.Path, "--dir", run, "set", "lr=0.005");
        Assert.True(late.ExitCode == 0, late.ToString());
        var dials = new Kiln.Modules.Opt.OptimizerDials("adam", 0.001);
        using (var kernel = new Kiln.Kernel.KilnKernel(run, new Kiln.Kernel.KernelOptions { PollInterval = TimeSpan.Zero }))
        {
            kernel.AddOptimizer(dials, "main");
            var env = new Kiln.Modules.KernelEnv { Phase = "train" };
            for (long step = 0; step < 5; step++) kernel.Apply(step, "train_step_end", env);
        }
        var decisions = new RunDir(run).Decisions();
        Assert.All(cids, c => Assert.Single(decisions, d => d.Cid == c));
        var lateCid = (string)JsonNode.Parse(File.ReadAllLines(files.CommandsPath)[^1])!["cid"]!;
        Assert.Equal(Decision.Applied, Assert.Single(decisions, d => d.Cid == lateCid).Decision);
        Assert.Equal(0.005, dials.Lr(0, 5), 12);
    }

    [Fact]
    public void A_run_directory_that_holds_a_run_is_not_trained_into_again()
    {
        using var dir = new TempDir("launch");
        var run = Path.Combine(dir.Path, "run");
        var first = KilnProcess.Run(dir.Path, "launch", "--no-serve", "--config", "simple", "--max-steps", "5", "--run-dir", run, "--data-dir", dir.Sub("empty"));
        Assert.True(first.ExitCode == 0, first.ToString());
        var metrics = File.ReadAllText(Path.Combine(run, RunFiles.Metrics));
        var again = KilnProcess.Run(dir.Path, "launch", "--no-serve", "--config", "simple", "--max-steps", "5", "--run-dir", run, "--data-dir", dir.Sub("empty"));
        Assert.Equal(2, again.ExitCode);
        Assert.Contains("it already holds a run (kiln.run.json says completed)", again.Stderr);
        Assert.Equal(metrics, File.ReadAllText(Path.Combine(run, RunFiles.Metrics)));
    }

    [Theory]
    [InlineData(2, new[] { "--config", "huge" }, "Argument 'huge' not recognized")]
    [InlineData(2, new[] { "--train-fn", "missing.dll:A.B.C" }, "assembly not found")]
    [InlineData(2, new[] { "--max-time", "0" }, "--max-time: must be > 0")]
    [InlineData(2, new[] { "--max-time", "1e300" }, "--max-time: must be > 0 and at most 2000000 seconds (about 23 days), got 1e300")]
    [InlineData(2, new[] { "--step-delay", "100000000000" }, "--step-delay: must be >= 0 and at most 2000000 seconds (about 23 days), got 100000000000")]
    [InlineData(2, new[] { "--step-delay", "-1" }, "--step-delay: must be >= 0")]
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

    [Fact]
    public async Task Two_launches_into_one_run_directory_at_once_leave_one_run_and_a_clear_error()
    {
        using var dir = new TempDir("launch");
        var run = Path.Combine(dir.Path, "run");
        string[] args = ["launch", "--no-serve", "--config", "simple", "--max-steps", "100000000", "--step-delay", "0.005", "--run-dir", run,
            "--data-dir", dir.Sub("empty"), "--plain"];
        using var first = KilnProcess.Start(dir.Path, null, args);
        using var second = KilnProcess.Start(dir.Path, null, args);
        var outs = new[] { first.StandardError.ReadToEndAsync(), second.StandardError.ReadToEndAsync() };
        // One of them gets the run; the other is refused without writing anything of the run's.
        await Wait.UntilAsync(() => first.HasExited || second.HasExited, "one launch to be refused");
        var (lost, won, lostErr) = first.HasExited ? (first, second, outs[0]) : (second, first, outs[1]);
        Assert.NotEqual(0, lost.ExitCode);
        Assert.Matches("another run is training in this directory|already holds a run", await lostErr);
        var info = JsonNode.Parse(File.ReadAllText(Path.Combine(run, RunFiles.Run)))!;
        Assert.Equal(won.Id, (int)info["pid"]!);
        Assert.Equal("running", (string)info["status"]!);
        won.Kill();
        await won.WaitForExitAsync();
    }

    [Fact]
    public void Launch_trains_in_the_dir_it_is_given_and_refuses_two_different_ones()
    {
        using var dir = new TempDir("launch");
        var run = Path.Combine(dir.Path, "mine");
        var result = KilnProcess.Run(dir.Path, "--dir", run, "launch", "--no-serve", "--config", "simple", "--max-steps", "3", "--data-dir", dir.Sub("empty"));
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("completed", (string?)JsonNode.Parse(File.ReadAllText(Path.Combine(run, RunFiles.Run)))!["status"]);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "runs")));

        var both = KilnProcess.Run(dir.Path, "--dir", dir.Sub("a"), "launch", "--no-serve", "--run-dir", dir.Sub("b"), "--max-steps", "3");
        Assert.Equal(2, both.ExitCode);
        Assert.Contains("name different run directories", both.Stderr);
    }
}
