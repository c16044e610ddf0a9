using System.Diagnostics;
using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Runs;
using Kiln.Testing;
using Xunit.Abstractions;

namespace Kiln.Cli.Tests;

/// <summary>
/// <c>kiln launch --resume</c> on real processes: SIGTERM at a random step writes a checkpoint, and the resumed run's
/// metrics are the uninterrupted run's, line for line; commands sent around the interruption are applied once.
/// </summary>
public sealed class ResumeCliTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Exit = TimeSpan.FromSeconds(120);

    private static string[] Launch(TempDir dir, string run, string config, long steps, params string[] more) =>
        ["launch", "--config", config, "--max-steps", steps.ToString(System.Globalization.CultureInfo.InvariantCulture), "--seed", "5",
            "--param", "eval_every=30", "batch_size=32", "--run-dir", run, "--data-dir", dir.Sub("empty"), "--no-serve", "--plain", .. more];

    /// <summary>The last train step in the metrics so far (a torn last line is skipped).</summary>
    private static long LastTrainStep(string run)
    {
        var path = Path.Combine(run, RunFiles.Metrics);
        if (!File.Exists(path)) return -1;
        long last = -1;
        foreach (var line in File.ReadAllLines(path))
        {
            try
            {
                var n = JsonNode.Parse(line)!;
                if ((string?)n["phase"] == "train") last = (long)n["step"]!;
            }
            catch (System.Text.Json.JsonException) { /* the line being written */ }
        }
        return last;
    }

    private static List<string> Metrics(string run) => File.ReadAllLines(Path.Combine(run, RunFiles.Metrics)).Select(l =>
    {
        var o = (JsonObject)JsonNode.Parse(l)!;
        o.Remove("wall_time");
        return o.ToJsonString();
    }).ToList();

    private static async Task StopAfter(Process process, string run, long step)
    {
        await Wait.UntilAsync(() => LastTrainStep(run) >= step, $"{run}'s metrics to pass step {step}", seconds: 120);
        Assert.True(Processes.Signal(process.Id, Processes.SigTerm));
        using var timeout = new CancellationTokenSource(Exit);
        await process.WaitForExitAsync(timeout.Token);
        Assert.Equal(143, process.ExitCode);
    }

    [Theory]
    [InlineData("simple")]
    [InlineData("multitask")]
    public async Task Sigterm_at_a_random_step_then_resume_gives_the_uninterrupted_runs_metrics_exactly(string config)
    {
        using var dir = new TempDir("resume-cli");
        const long steps = 150;
        var at = Random.Shared.NextInt64(2, 120);
        output.WriteLine($"SIGTERM once the metrics pass step {at}");
        var whole = Path.Combine(dir.Path, "whole");
        var done = KilnProcess.Run(dir.Path, Exit, null, Launch(dir, whole, config, steps));
        Assert.True(done.ExitCode == 0, done.ToString());

        var parts = Path.Combine(dir.Path, "parts");
        using (var process = KilnProcess.Start(dir.Path, null, Launch(dir, parts, config, steps, "--step-delay", "0.01")))
        {
            await StopAfter(process, parts, at);
        }
        Assert.Equal(RunInfo.Stopped, RunState.Read(parts)!.Status);
        var checkpoint = RunCheckpoint.Read(parts)!;
        output.WriteLine($"checkpoint at step {checkpoint.Step}");
        Assert.InRange(checkpoint.Step, at + 1, steps - 1);

        var resumed = KilnProcess.Run(dir.Path, Exit, null, "launch", "--resume", parts, "--step-delay", "0", "--no-serve", "--plain");
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Contains($"resuming at step {checkpoint.Step}", resumed.Stdout);
        Assert.Equal(RunInfo.Completed, RunState.Read(parts)!.Status);
        Assert.Equal(Metrics(whole), Metrics(parts));
    }

    [Fact]
    public async Task A_command_before_the_interruption_and_one_after_are_each_in_the_ledger_once()
    {
        using var dir = new TempDir("resume-cli-commands");
        var run = Path.Combine(dir.Path, "run");
        string before, after;
        using (var process = KilnProcess.Start(dir.Path, null, Launch(dir, run, "simple", 120, "--step-delay", "0.02")))
        {
            await Wait.UntilAsync(() => LastTrainStep(run) >= 3, "the first steps", seconds: 120);
            var set = KilnProcess.Run(dir.Path, "--dir", run, "set", "lr=0.0004", "--wait", "30", "--json");
            Assert.True(set.ExitCode == 0, set.ToString());
            before = (string)JsonNode.Parse(set.Stdout)!["command"]!["cid"]!;
            await StopAfter(process, run, LastTrainStep(run) + 3);
        }
        var queued = KilnProcess.Run(dir.Path, "--dir", run, "set", "weight_decay=0.001", "--json");
        Assert.True(queued.ExitCode == 0, queued.ToString());
        after = (string)JsonNode.Parse(queued.Stdout)!["cid"]!;

        var resumed = KilnProcess.Run(dir.Path, Exit, null, "launch", "--resume", run, "--step-delay", "0", "--no-serve", "--plain");
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        var ledger = Kiln.Kernel.Ledger.ReadAll(Path.Combine(run, RunFiles.Ledger));
        Assert.Single(ledger, l => l.Cid == before);
        Assert.Single(ledger, l => l.Cid == after);
        Assert.All(ledger.Where(l => l.Cid == before || l.Cid == after), l => Assert.Equal(Decision.Applied, l.Decision));
        var train = File.ReadLines(Path.Combine(run, RunFiles.Metrics)).Select(l => JsonNode.Parse(l)!).Where(n => (string?)n["phase"] == "train").ToList();
        Assert.Equal(Enumerable.Range(0, 120).Select(i => (long)i), train.Select(n => (long)n["step"]!));
        Assert.Equal(0.0004, (double)train[^1]["metrics"]!["lr"]!);
    }
}
