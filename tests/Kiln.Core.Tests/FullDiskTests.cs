using System.Text;
using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Kernel;
using Kiln.Metrics;
using Kiln.Modules.Loss;
using Kiln.Protocol;
using Kiln.Runs;
using Kiln.Testing;

namespace Kiln.Core.Tests;

/// <summary>A run whose directory is on a file system that fills up (a real tmpfs of 1 MiB).</summary>
public sealed class FullDiskTests
{
    private const int DiskBytes = 1 << 20;

    private static RunOptions Options(List<string> log) => new()
    {
        Log = m => { lock (log) log.Add(m); }, StopOnSignals = false, GitDirectory = null,
        Kernel = new KernelOptions { PollInterval = TimeSpan.Zero },
    };

    private static bool Said(List<string> log, params string[] parts)
    {
        lock (log) return log.Any(m => parts.All(m.Contains));
    }

    private static void Train(KilnRun run, long step)
    {
        run.Log(step, [("train_loss", 1.0 / (step + 1)), ("lr", 1e-3), ("grad_norm", step * 0.5)]);
        run.Apply(step);
        // Lines go to the disk as training goes, not in one write at the end.
        if (step % 32 == 31)
        {
            try { run.Metrics!.Flush(); }
            catch (IOException) { /* the writer failed: what the test is about */ }
        }
    }

    /// <summary>Every line of the metrics file parses, and its steps run 0, 1, 2, … with none missing or half written.</summary>
    private static List<long> WholeLines(string dir)
    {
        var path = Path.Combine(dir, RunFiles.Metrics);
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length == 0 || bytes[^1] == (byte)'\n', $"{RunFiles.Metrics} ends in the middle of a line");
        var steps = new List<long>();
        foreach (var line in Encoding.UTF8.GetString(bytes).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var node = JsonNode.Parse(line)!;
            steps.Add((long)node["step"]!);
            Assert.Equal(3, node["metrics"]!.AsObject().Count);
        }
        Assert.Equal(Enumerable.Range(0, steps.Count).Select(i => (long)i), steps);
        return steps;
    }

    [SmallDiskFact]
    public void When_the_disk_fills_up_the_run_says_so_at_once_keeps_whole_metric_lines_and_ends_failed_naming_the_cause()
    {
        using var disk = new SmallDisk(DiskBytes);
        var dir = disk.Sub("run");
        var log = new List<string>();
        string status;
        using (var run = KilnRun.Start(dir, Options(log)))
        {
            run.Apply(0);
            disk.Fill(leave: 16 * 1024);
            for (long step = 0; step < 1_000_000 && !run.StopRequested; step++) Train(run, step);
            Assert.True(run.StopRequested, "the disk is full and the run was never asked to stop");
            // Said while training, not only when the run ends.
            Assert.True(Said(log, RunFiles.Metrics, "No space left on device"), string.Join("\n", log));
            // The disk is still full: the run's last word goes into the room it set aside.
            status = run.End();
        }
        Assert.Equal(RunInfo.Failed, status);
        var steps = WholeLines(dir);
        Assert.NotEmpty(steps);
        var record = RunState.Read(dir)!;
        Assert.Equal(RunInfo.Failed, record.Status);
        Assert.Contains(RunFiles.Metrics, record.Error);
        Assert.Contains("No space left on device", record.Error);
        Assert.Contains($"its last whole line is step {steps[^1]}", record.Error);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
    }

    [SmallDiskFact]
    public void Space_that_returns_after_a_failed_write_does_not_resume_the_file_after_a_gap()
    {
        using var disk = new SmallDisk(DiskBytes);
        var dir = disk.Sub("run");
        var log = new List<string>();
        long stoppedAt;
        using (var run = KilnRun.Start(dir, Options(log)))
        {
            disk.Fill(leave: 16 * 1024);
            long step = 0;
            for (; step < 1_000_000 && !run.StopRequested; step++) Train(run, step);
            stoppedAt = step;
            // A loop that does not look at StopRequested trains on; meanwhile the disk has room again.
            disk.Free();
            for (var more = 0; more < 500; more++, step++) Train(run, step);
            Assert.Equal(RunInfo.Failed, run.End());
        }
        var steps = WholeLines(dir);
        Assert.True(steps[^1] < stoppedAt, $"lines were written after the failure (last line: step {steps[^1]}, the loop was asked to stop at step {stoppedAt})");
        Assert.Equal(RunInfo.Failed, RunState.Read(dir)!.Status);
    }

    [SmallDiskFact]
    public async Task With_WaitForDiskSpace_training_pauses_on_a_full_disk_and_goes_on_when_space_returns_losing_no_line()
    {
        using var disk = new SmallDisk(DiskBytes);
        var dir = disk.Sub("run");
        var log = new List<string>();
        const int steps = 3000;
        using var run = KilnRun.Start(dir, Options(log) with { WaitForDiskSpace = true, DiskRetryInterval = TimeSpan.FromMilliseconds(20) });
        run.Apply(0);
        disk.Fill(leave: 16 * 1024);
        var trainer = Task.Run(() =>
        {
            for (long step = 0; step < steps; step++)
            {
                run.Log(step, [("train_loss", 1.0 / (step + 1)), ("lr", 1e-3), ("grad_norm", step * 0.5)]);
                if (step % 32 == 31) run.Metrics!.Flush();
            }
            run.Metrics!.Flush();
        });
        await Wait.UntilAsync(() => run.Metrics!.State == MetricsWriterState.WaitingForSpace || trainer.IsCompleted, "the metrics writer to wait for space");
        Assert.Equal(MetricsWriterState.WaitingForSpace, run.Metrics!.State);
        Assert.True(Said(log, RunFiles.Metrics, "No space left on device", "waiting for space"), string.Join("\n", log));
        // 3,000 lines do not fit in 16 KiB: the loop cannot have finished.
        Assert.False(trainer.IsCompleted);
        Assert.False(run.StopRequested);

        disk.Free();
        await trainer;
        Assert.Equal(RunInfo.Completed, run.End());
        Assert.True(Said(log, RunFiles.Metrics, "space returned"), string.Join("\n", log));
        Assert.Equal(steps, WholeLines(dir).Count);
        Assert.Equal(RunInfo.Completed, RunState.Read(dir)!.Status);
    }

    [SmallDiskFact]
    public async Task With_kiln_yaml_wait_for_disk_space_a_paused_run_keeps_its_heartbeat_in_the_room_it_set_aside()
    {
        using var disk = new SmallDisk(DiskBytes);
        var dir = disk.Sub("run");
        Directory.CreateDirectory(dir);
        new RunDir(dir).WriteConfig("version: 1\nkernel: {wait_for_disk_space: true}\n");
        var log = new List<string>();
        // The writer tries again only when the test flushes it, so nothing but the heartbeat competes for the room.
        using var run = KilnRun.Start(dir, Options(log) with { HeartbeatInterval = TimeSpan.FromMilliseconds(20), DiskRetryInterval = TimeSpan.FromHours(1) });
        run.Apply(0);
        Assert.True(run.Kernel!.Settings.WaitForDiskSpace);
        Assert.True(File.Exists(Path.Combine(dir, ".kiln.run.json.reserve")));
        disk.Fill();
        const int steps = 3000;
        var trainer = Task.Run(() =>
        {
            for (long step = 0; step < steps; step++)
            {
                run.Log(step, [("train_loss", 1.0 / (step + 1)), ("lr", 1e-3), ("grad_norm", step * 0.5)]);
                if (step % 32 == 31) run.Metrics!.Flush();
            }
        });
        await Wait.UntilAsync(() => run.Metrics!.State == MetricsWriterState.WaitingForSpace || trainer.IsCompleted, "the metrics writer to wait for space");
        Assert.Equal(MetricsWriterState.WaitingForSpace, run.Metrics!.State);

        // Not a byte is free, yet kiln.run.json's heartbeat goes on: readers see a live run, not an interrupted one.
        var since = RunState.Read(dir)!.Heartbeat!.Value;
        await Wait.UntilAsync(() => RunState.Read(dir)?.Heartbeat > since + 0.1, "a heartbeat written while the disk is full");
        Assert.Equal(RunInfo.Running, RunState.Read(dir)!.Status);
        Assert.False(trainer.IsCompleted);

        disk.Free();
        run.Metrics.Flush();
        await trainer;
        Assert.Equal(RunInfo.Completed, run.End());
        Assert.Equal(steps, WholeLines(dir).Count);
        Assert.False(File.Exists(Path.Combine(dir, ".kiln.run.json.reserve")));
    }

    [SmallDiskFact]
    public void A_ledger_that_cannot_be_written_stops_the_kernel_and_the_run_and_a_resumed_run_applies_each_command_once()
    {
        using var disk = new SmallDisk(DiskBytes);
        var dir = disk.Sub("run");
        var log = new List<string>();
        var inbox = new RunDir(dir);
        using (var run = KilnRun.Start(dir, Options(log)))
        {
            var loss = new LossDials([("cls", 1.0), ("aux", 0.5)]);
            run.AddLoss(loss);
            // Its ledger line leaves the ledger's page part full: the long decision below fits in part, then meets the full disk.
            run.AddCallback(new CountingCallback("probe"));
            run.Apply(0);
            inbox.Send("loss", "set_params", parameters: new JsonObject { ["aux_w"] = 2.0, ["note"] = new string('x', 6000) });
            inbox.Send("loss", "set_params", parameters: new JsonObject { ["cls_w"] = 3.0 });
            disk.Fill();

            var ex = Assert.Throws<LedgerUnavailableException>(() => run.Apply(1));
            Assert.Contains(RunFiles.Ledger, ex.Message);
            Assert.Contains("No space left on device", ex.Message);
            // The kernel applies nothing more: the second command waits in the inbox for a run that can ledger it.
            Assert.Throws<LedgerUnavailableException>(() => run.Apply(2));
            Assert.Equal(1.0, loss.GetWeight("cls"));
            Assert.True(run.StopRequested);
            Assert.True(Said(log, RunFiles.Ledger, "No space left on device"), string.Join("\n", log));
            // The loop threw out of its using block: the run is disposed without End.
        }
        var record = RunState.Read(dir)!;
        Assert.Equal(RunInfo.Failed, record.Status);
        Assert.Contains(RunFiles.Ledger, record.Error);
        Assert.Contains("No space left on device", record.Error);
        var ledgerBytes = File.ReadAllBytes(Path.Combine(dir, RunFiles.Ledger));
        Assert.Equal((byte)'\n', ledgerBytes[^1]);
        var problems = new List<string>();
        Assert.DoesNotContain(Ledger.ReadAll(Path.Combine(dir, RunFiles.Ledger), problems), e => e.Op == "set_params");
        Assert.Empty(problems);

        disk.Free();
        var resumed = new LossDials([("cls", 1.0), ("aux", 0.5)]);
        using (var run = KilnRun.Start(dir, Options(log)))
        {
            run.AddLoss(resumed);
            run.Apply(0);
            run.Apply(1);
            Assert.Equal(RunInfo.Completed, run.End());
        }
        Assert.Equal((2.0, 3.0), (resumed.GetWeight("aux"), resumed.GetWeight("cls")));
        Assert.Equal(2, Ledger.ReadAll(Path.Combine(dir, RunFiles.Ledger)).Count(e => e.Op == "set_params" && e.Decision == Decision.Applied));
    }

    [SmallDiskFact]
    public void An_append_cut_short_by_a_full_disk_is_taken_back_whole()
    {
        using var disk = new SmallDisk(DiskBytes);
        var path = Path.Combine(disk.Path, "kiln.commands.jsonl");
        JsonlFile.Append(path, Encoding.UTF8.GetBytes("""{"cid":"a"}"""));
        disk.Fill();
        // The file's page has room for part of this line, and the disk none for the rest.
        var line = Encoding.UTF8.GetBytes("""{"cid":"b","pad":""" + "\"" + new string('x', 6000) + "\"}");
        Assert.ThrowsAny<IOException>(() => JsonlFile.Append(path, line));
        Assert.Equal("{\"cid\":\"a\"}\n", File.ReadAllText(path));
    }
}
