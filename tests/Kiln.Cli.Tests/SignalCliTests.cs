using System.Diagnostics;
using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Runs;
using Kiln.Testing;

namespace Kiln.Cli.Tests;

/// <summary>
/// Real signals to real <c>kiln</c> processes: every long-running command stops cleanly on SIGTERM, SIGINT and SIGHUP
/// (status <c>stopped</c>, exit 128 + the signal), a second signal forces the exit, and no worker outlives its runner.
/// </summary>
public sealed class SignalCliTests
{
    private static readonly TimeSpan Exit = TimeSpan.FromSeconds(60);

    private static string Status(string run) => (string)JsonNode.Parse(File.ReadAllText(Path.Combine(run, RunFiles.Run)))!["status"]!;

    private static Task FirstMetrics(string run) =>
        Wait.UntilAsync(() => File.Exists(Path.Combine(run, RunFiles.Metrics)) && new FileInfo(Path.Combine(run, RunFiles.Metrics)).Length > 500, $"{run}'s first metrics");

    private static async Task<int> ExitOf(Process process)
    {
        using var timeout = new CancellationTokenSource(Exit);
        await process.WaitForExitAsync(timeout.Token);
        return process.ExitCode;
    }

    /// <summary>Once the run trains, SIGTERM ends the process with 143 and the run records <c>stopped</c>.</summary>
    private static async Task StopsOnSigterm(Process process, string run)
    {
        await FirstMetrics(run);
        Processes.Signal(process.Id, Processes.SigTerm);
        Assert.Equal(143, await ExitOf(process));
        Assert.Equal("stopped", Status(run));
    }

    private static Process Launch(TempDir dir, string run, params string[] more) =>
        KilnProcess.Start(dir.Path, null, ["launch", "--config", "simple", "--max-steps", "100000000", "--step-delay", "0.005",
            "--run-dir", run, "--data-dir", dir.Sub("empty"), "--plain", .. more]);

    [Theory]
    [InlineData(Processes.SigTerm, 143)]
    [InlineData(Processes.SigHup, 129)]
    [InlineData(Processes.SigInt, 130)]
    public async Task Launch_stops_cleanly_on_a_signal_and_says_stopped(int signal, int code)
    {
        using var dir = new TempDir("signal");
        var run = Path.Combine(dir.Path, "run");
        using var process = Launch(dir, run, "--no-serve");
        var stdout = process.StandardOutput.ReadToEndAsync();
        await FirstMetrics(run);
        Assert.True(Processes.Signal(process.Id, signal));
        Assert.Equal(code, await ExitOf(process));
        Assert.Contains("run stopped after", await stdout);
        Assert.Equal("stopped", Status(run));
        foreach (var line in File.ReadAllLines(Path.Combine(run, RunFiles.Metrics))) JsonNode.Parse(line);
        var status = KilnProcess.Run(dir.Path, "--dir", run, "status");
        Assert.Contains("launch simple, stopped", status.Stdout);
    }

    [Fact]
    public async Task Launch_with_its_dashboard_stops_on_SIGTERM()
    {
        using var dir = new TempDir("signal");
        var run = Path.Combine(dir.Path, "run");
        using var process = Launch(dir, run, "--port", "0");
        await StopsOnSigterm(process, run);
    }

    [Fact]
    public async Task Serve_and_demo_stop_on_SIGTERM()
    {
        using var dir = new TempDir("signal");
        using var serve = KilnProcess.Start(dir.Path, null, "serve", "--port", "0", "--plain");
        await Wait.UntilAsync(() => serve.StandardOutput.ReadLine()?.Contains("dashboard", StringComparison.Ordinal) == true, "the server to listen");
        Processes.Signal(serve.Id, Processes.SigTerm);
        Assert.Equal(143, await ExitOf(serve));

        using var demo = KilnProcess.Start(dir.Path, null, "demo", "--port", "0", "--data-dir", dir.Sub("empty"), "--max-steps", "100000000", "--plain");
        await Wait.UntilAsync(() => Directory.Exists(Path.Combine(dir.Path, "runs")) && Directory.GetDirectories(Path.Combine(dir.Path, "runs")).Length == 1, "the demo's run");
        await StopsOnSigterm(demo, Directory.GetDirectories(Path.Combine(dir.Path, "runs"))[0]);
    }

    [Fact]
    public async Task Launch_goes_on_past_a_callback_that_never_returns_and_still_stops_on_SIGTERM()
    {
        using var dir = new TempDir("signal");
        File.WriteAllText(dir.File("Hang.cs"), """
            public sealed class Hang(string id) : IKilnCallback
            {
                public string Id { get; } = id;
                public void SetParams(JsonObject p) { }
                public void Handle(string evt, KernelEnv env)
                {
                    File.WriteAllText(Path.Combine(env.RunDir!, "stuck-" + Id), $"{env.Step}");
                    while (true) { }
                }
            }
            """);
        var run = Path.Combine(dir.Path, "run");
        using var process = Launch(dir, run, "--no-serve");
        await FirstMetrics(run);
        var refused = KilnProcess.Run(dir.Path, "--dir", run, "cb", "load", "x", "--file", "Hang.cs", "--time-budget", "0");
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("--time-budget: a time budget is a number of seconds > 0", refused.Stderr);

        // Over its budget: left spinning, disabled, ledgered; training goes on.
        var quick = KilnProcess.Run(dir.Path, "--dir", run, "cb", "load", "quick", "--file", "Hang.cs", "--enabled", "--time-budget", "0.5");
        Assert.True(quick.ExitCode == 0, quick.ToString());
        var ledger = Path.Combine(run, RunFiles.Ledger);
        var failed = await Wait.UntilAsync(() => Task.FromResult(Kiln.Kernel.Ledger.ReadAll(ledger).FirstOrDefault(l => l.Op == "handle" && l.Id == "quick")),
            l => l is not null, "the callback to time out");
        Assert.Equal(Decision.Failed, failed!.Decision);
        Assert.Matches(@"^handle\(train_step_end\) at step \d+ timed out after 0\.5 s$", failed.Error);
        var metrics = new FileInfo(Path.Combine(run, RunFiles.Metrics));
        var before = metrics.Length;
        await Wait.UntilAsync(() => { metrics.Refresh(); return metrics.Length > before + 2000; }, "training to go on");

        // Within a long budget, a stop request still ends the wait.
        var slow = KilnProcess.Run(dir.Path, "--dir", run, "cb", "load", "slow", "--file", "Hang.cs", "--enabled", "--time-budget", "100000");
        Assert.True(slow.ExitCode == 0, slow.ToString());
        await Wait.UntilAsync(() => File.Exists(Path.Combine(run, "stuck-slow")), "the second callback to be stuck");
        Processes.Signal(process.Id, Processes.SigTerm);
        Assert.Equal(143, await ExitOf(process));
        Assert.Equal("stopped", Status(run));
        var left = Kiln.Kernel.Ledger.ReadAll(ledger).Single(l => l.Op == "handle" && l.Id == "slow");
        Assert.Matches(@"^handle\(train_step_end\) at step \d+ was still running 2 s after the run was asked to stop$", left.Error);
    }

    [Fact]
    public async Task A_second_signal_forces_the_exit_of_a_loop_that_ignores_the_first()
    {
        using var dir = new TempDir("signal");
        File.WriteAllText(dir.File("Stubborn.cs"), """
            public static class Stubborn
            {
                public static void Train(TrainContext ctx)
                {
                    // Never looks at ctx.Stop.
                    for (long s = 0; ; s++)
                    {
                        ctx.Record(s, "train", [("train_loss", 1.0)]);
                        System.Threading.Thread.Sleep(5);
                    }
                }
            }
            """);
        var run = Path.Combine(dir.Path, "run");
        using var process = KilnProcess.Start(dir.Path, null, "launch", "--no-serve", "--train-fn", "Stubborn.cs:Stubborn.Train", "--run-dir", run, "--plain");
        var stderr = process.StandardError.ReadToEndAsync();
        await FirstMetrics(run);
        Processes.Signal(process.Id, Processes.SigTerm);
        var metrics = new FileInfo(Path.Combine(run, RunFiles.Metrics));
        var before = metrics.Length;
        await Wait.UntilAsync(() => { metrics.Refresh(); return metrics.Length > before + 2000; }, "the loop to go on after the first signal");
        Assert.False(process.HasExited);
        Processes.Signal(process.Id, Processes.SigTerm);
        Assert.Equal(143, await ExitOf(process));
        Assert.Contains("send it again to stop at once", await stderr);
        Assert.Equal("stopped", Status(run));
    }

    private static string Tree(TempDir dir)
    {
        var root = dir.Sub("project");
        // Far more steps than any test waits for: the trials only end by being stopped.
        CfgTree.Write(root, "sweep", "seed: 0\ndataset: synthetic\nmodel: {type: mlp, hidden: [16]}\nepochs: 1000000\nbatch_size: 64\n");
        CfgTree.Write(root, "sweep/synthetic/mlp/adam", "lr: [0.001, 0.002, 0.003]\n");
        return root;
    }

    private static string[] Trials(string root) =>
        [.. Enumerable.Range(0, 3).Select(i => Path.Combine(root, "out", "log", "sweep", "synthetic", "mlp", "adam", $"trial_{i:000}"))];

    private static int? Pid(string trial) => RunState.Read(trial)?.Pid;

    [Fact]
    public async Task Trials_run_stops_its_workers_on_SIGTERM_and_leaves_none_behind()
    {
        using var dir = new TempDir("signal");
        var root = Tree(dir);
        using var runner = KilnProcess.Start(root, null, "trials", "run", "--jobs", "2", "--plain");
        var stdout = runner.StandardOutput.ReadToEndAsync();
        var trials = Trials(root);
        await FirstMetrics(trials[0]);
        await FirstMetrics(trials[1]);
        var workers = trials.Take(2).Select(t => Pid(t)!.Value).ToList();
        Processes.Signal(runner.Id, Processes.SigTerm);
        Assert.Equal(143, await ExitOf(runner));
        Assert.Contains("2 stopped", await stdout);
        Assert.All(workers, pid => Assert.False(Processes.IsAlive(pid), $"worker {pid} outlived its runner"));
        Assert.Equal(["stopped", "stopped"], trials.Take(2).Select(Status));
        Assert.False(File.Exists(Path.Combine(trials[2], RunFiles.Run)));
    }

    [Fact]
    public async Task Workers_of_a_runner_killed_outright_notice_and_stop()
    {
        using var dir = new TempDir("signal");
        var root = Tree(dir);
        using var runner = KilnProcess.Start(root, null, "trials", "run", "--jobs", "2", "--plain");
        var trials = Trials(root);
        await FirstMetrics(trials[0]);
        await FirstMetrics(trials[1]);
        var workers = trials.Take(2).Select(t => Pid(t)!.Value).ToList();
        runner.Kill();
        await ExitOf(runner);
        foreach (var pid in workers)
            await Wait.UntilAsync(() => !Processes.IsAlive(pid), $"worker {pid} to notice its runner is gone");
        Assert.Equal(["stopped", "stopped"], trials.Take(2).Select(Status));
    }

    [Fact]
    public async Task A_run_killed_outright_reads_as_interrupted_not_running()
    {
        using var dir = new TempDir("signal");
        var run = Path.Combine(dir.Path, "run");
        using var process = Launch(dir, run, "--no-serve");
        await FirstMetrics(run);
        process.Kill();
        await ExitOf(process);
        Assert.Equal("running", Status(run));
        var status = KilnProcess.Run(dir.Path, "--dir", run, "status");
        Assert.Contains("launch simple, interrupted", status.Stdout);
        var json = JsonNode.Parse(KilnProcess.Run(dir.Path, "--dir", run, "status", "--json").Stdout)!;
        Assert.Equal("interrupted", (string)json["run"]!["status"]!);
        Assert.Equal(Path.GetFileName(run), (string)json["run"]!["id"]!);
    }

    [Fact]
    public async Task Trials_whose_runner_and_workers_were_killed_outright_run_again_instead_of_counting_as_complete()
    {
        using var dir = new TempDir("signal");
        var root = Tree(dir);
        using var runner = KilnProcess.Start(root, null, "trials", "run", "--jobs", "2", "--plain");
        var trials = Trials(root);
        await FirstMetrics(trials[0]);
        await FirstMetrics(trials[1]);
        var workers = trials.Take(2).Select(t => Pid(t)!.Value).ToList();
        // SIGKILL for everyone: nobody gets to say how the trials ended.
        foreach (var pid in workers) Processes.Signal(pid, Processes.SigKill);
        runner.Kill();
        await ExitOf(runner);
        foreach (var pid in workers) await Wait.UntilAsync(() => !Processes.IsAlive(pid), $"worker {pid} to die");
        Assert.Equal(["running", "running"], trials.Take(2).Select(Status));

        var status = KilnProcess.Run(root, "trials", "status", "--json");
        var states = JsonNode.Parse(status.Stdout)!["trials"]!.AsArray().Select(t => (string)t!["status"]!).ToList();
        Assert.Equal(["pending", "pending", "pending"], states);

        using var again = KilnProcess.Start(root, null, "trials", "run", "--jobs", "2", "--plain");
        var stdout = again.StandardOutput.ReadToEndAsync();
        await Wait.UntilAsync(() => Pid(trials[0]) is { } p && !workers.Contains(p) && File.Exists(Path.Combine(trials[0], RunFiles.Metrics)), "the first trial to run again");
        Processes.Signal(again.Id, Processes.SigTerm);
        Assert.Equal(143, await ExitOf(again));
        Assert.Contains("3 trials to run, 0 already complete", await stdout);
    }

    [Fact]
    public async Task Launch_keeps_serving_after_training_when_asked_and_the_demo_trains_long_enough_to_steer()
    {
        using var dir = new TempDir("signal");
        var run = Path.Combine(dir.Path, "run");
        using var launch = KilnProcess.Start(dir.Path, null, "launch", "--config", "simple", "--max-steps", "3", "--run-dir", run,
            "--data-dir", dir.Sub("empty"), "--port", "0", "--keep-serving", "--plain");
        await Wait.UntilAsync(() => launch.StandardOutput.ReadLine()?.Contains("the dashboard stays at", StringComparison.Ordinal) == true, "training to end");
        Assert.Equal("completed", Status(run));
        Assert.False(launch.HasExited);
        Processes.Signal(launch.Id, Processes.SigTerm);
        Assert.Equal(143, await ExitOf(launch));

        using var demo = KilnProcess.Start(dir.Path, null, "demo", "--port", "0", "--data-dir", dir.Sub("empty"), "--plain");
        await Wait.UntilAsync(() => Directory.Exists(Path.Combine(dir.Path, "runs")) && Directory.GetDirectories(Path.Combine(dir.Path, "runs")).Length == 1, "the demo's run");
        var demoRun = Directory.GetDirectories(Path.Combine(dir.Path, "runs"))[0];
        await FirstMetrics(demoRun);
        Assert.Equal(50_000, (long)JsonNode.Parse(File.ReadAllText(Path.Combine(demoRun, RunFiles.Run)))!["params"]!["max_steps"]!);
        Processes.Signal(demo.Id, Processes.SigTerm);
        Assert.Equal(143, await ExitOf(demo));
    }
}
