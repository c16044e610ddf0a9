using System.Text.Json.Nodes;
using Kiln.Control;
using Kiln.Kernel;
using Kiln.Modules.Loss;
using Kiln.Modules.Opt;
using Kiln.Protocol;
using Kiln.Runs;
using Kiln.Testing;

namespace Kiln.Core.Tests;

/// <summary>
/// A run directory nothing can be written to (made immutable with chattr +i, which holds for root too): .NET raises
/// <see cref="UnauthorizedAccessException"/> there, not <see cref="IOException"/>, and both are handled alike.
/// </summary>
public sealed class ReadOnlyRunDirTests
{
    private static RunOptions Options(List<string> log) => new()
    {
        Log = m => { lock (log) log.Add(m); }, StopOnSignals = false, GitDirectory = null,
    };

    private static bool Said(List<string> log, params string[] parts)
    {
        lock (log) return log.Any(m => parts.All(m.Contains));
    }

    [ReadOnlyDirFact]
    public void A_run_cannot_start_in_a_read_only_directory_and_the_error_names_the_file()
    {
        using var tmp = new TempDir("ro");
        var dir = tmp.Sub("run");
        using (new ReadOnlyDir(dir))
        {
            var ex = Assert.Throws<IOException>(() => KilnRun.Start(dir, Options([])));
            Assert.Contains($"cannot start a run in {dir}", ex.Message);
            Assert.Contains(KilnRun.LockFile, ex.Message);
            Assert.IsType<UnauthorizedAccessException>(ex.InnerException);
        }
    }

    [ReadOnlyDirFact]
    public void A_run_whose_directory_turns_read_only_while_it_trains_says_so_and_never_crashes_the_trainer()
    {
        using var tmp = new TempDir("ro");
        var dir = tmp.Sub("run");
        var log = new List<string>();
        var warnings = new List<string>();
        var clock = new ManualTimeProvider();
        using var run = KilnRun.Start(dir, Options(log) with
        {
            Time = clock,
            Kernel = new KernelOptions { Time = clock, PollInterval = TimeSpan.Zero, Warn = m => { lock (warnings) warnings.Add(m); } },
        });
        var loss = new LossDials([("cls", 1.0)]);
        run.AddLoss(loss);
        for (long step = 0; step < 10; step++)
        {
            run.Log(step, [("train_loss", 1.0 / (step + 1))]);
            run.Apply(step);
        }
        run.Metrics!.Flush();
        new RunControl(dir).SetParams("loss", null, new JsonObject { ["cls_w"] = 2.0 });

        string status;
        using (new ReadOnlyDir(dir))
        {
            // The heartbeat (on the timer's thread in a real run) cannot be written: said once, never thrown.
            clock.Advance(RunState.StaleAfter / 9);
            Assert.True(Said(log, "heartbeat", RunFiles.Run, "denied"), string.Join("\n", log));

            // kiln.actuators.json cannot be rewritten: a warning, the dials still work.
            run.AddOptimizer(new OptimizerDials("sgd", 0.1));
            lock (warnings) Assert.Contains(warnings, w => w.Contains(RunFiles.Actuators, StringComparison.Ordinal) && w.Contains("denied", StringComparison.Ordinal));

            // The metrics writer says at once that it fails, and the run is asked to stop.
            run.Log(10, [("train_loss", 0.1)]);
            var flush = Assert.Throws<IOException>(() => run.Metrics!.Flush());
            Assert.Contains(RunFiles.Metrics, flush.Message);
            Assert.True(Said(log, RunFiles.Metrics, "denied", "the run stops"), string.Join("\n", log));
            Assert.True(run.StopRequested);

            // The ledger cannot take the command's decision: the kernel stops, naming the file.
            var ledger = Assert.Throws<LedgerUnavailableException>(() => run.Apply(11));
            Assert.Contains(RunFiles.Ledger, ledger.Message);

            status = run.End();
            // Nor can kiln.run.json be written: it still says running, but no reader is told the run trains.
            Assert.True(Said(log, "cannot record how the run ended", RunFiles.Run), string.Join("\n", log));
            Assert.Equal(RunInfo.Running, (string)JsonNode.Parse(File.ReadAllText(Path.Combine(dir, RunFiles.Run)))!["status"]!);
            Assert.Equal(RunInfo.Interrupted, RunState.Read(dir, clock)!.Status);
        }
        Assert.Equal(RunInfo.Failed, status);
        Assert.StartsWith(RunFiles.Metrics, run.Error);
    }
}
