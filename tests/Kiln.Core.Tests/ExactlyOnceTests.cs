using Kiln.Testing;
using System.Text;
using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Kernel;
using Kiln.Protocol;

namespace Kiln.Core.Tests;

/// <summary>Kernel rule 1: a command is applied at most once and never lost, across restarts, torn lines and bad lines.</summary>
public sealed class ExactlyOnceTests
{
    [Fact]
    public void A_command_is_applied_once_however_often_the_kernel_polls()
    {
        using var h = new Harness();
        h.Run.Set("opt", """{"lr": 0.002}""");
        for (var s = 0; s < 20; s++) h.Step(s);
        var applied = h.Run.Decisions().Where(e => e.Module == "opt").ToList();
        Assert.Single(applied);
        Assert.Equal(Decision.Applied, applied[0].Decision);
        Assert.Equal(0.002, h.Lr(0));
        Assert.Equal(0.002, h.Lr(1));
    }

    [Fact]
    public void A_restarted_kernel_applies_nothing_again()
    {
        using var h = new Harness();
        h.Run.Set("opt", """{"lr": 0.002}""");
        h.Run.Set("loss", """{"cls_w": 3}""");
        h.Run.Send("cb", "disable", "nobody");
        h.Step(0);
        var before = h.Run.Ledger().Count;

        h.Restart(lr: 0.5);
        for (var s = 1; s < 5; s++) h.Step(s);

        var after = h.Run.Ledger();
        Assert.Equal(before, after.Count);
        Assert.Equal(0.5, h.Lr(0));
        Assert.Equal(1.0, h.Loss.GetWeight("cls"));
        Assert.Equal(Enumerable.Range(1, after.Count).Select(i => (long)i), after.Select(e => e.Seq));
    }

    [Fact]
    public void Commands_written_while_the_trainer_was_down_are_applied_once_after_the_restart()
    {
        using var h = new Harness();
        h.Run.Set("opt", """{"lr": 0.002}""");
        h.Step(0);
        h.Kernel.Dispose();
        var cid = h.Run.Set("opt", """{"weight_decay": 0.05}""");

        h.Restart();
        h.Step(1);
        h.Step(2);

        var lines = h.Run.Decisions().Where(e => e.Cid == cid).ToList();
        Assert.Single(lines);
        Assert.Equal(Decision.Applied, lines[0].Decision);
        Assert.Equal(1, lines[0].Step);
        Assert.Equal(0.05, h.Opt[0].WeightDecay);
        Assert.Equal(0.01, h.Lr(0));
    }

    [Fact]
    public void A_torn_last_line_is_left_for_the_next_poll_and_applied_once_completed()
    {
        using var h = new Harness();
        h.Run.AppendRaw("""{"cid":"c1","module":"opt","op":"set_params","params":{"lr":""");
        h.Step(0);
        Assert.Empty(h.Run.Decisions());
        Assert.Equal(0.01, h.Lr());

        h.Run.AppendRaw("0.003}}\n");
        h.Step(1);
        h.Step(2);

        var line = Assert.Single(h.Run.Decisions());
        Assert.Equal("c1", line.Cid);
        Assert.Equal(Decision.Applied, line.Decision);
        Assert.Equal(1, line.Step);
        Assert.Equal(0.003, h.Lr());
    }

    [Fact]
    public void A_writer_killed_mid_line_costs_one_rejected_line_and_loses_the_next_command_to_nobody()
    {
        using var h = new Harness();
        h.Run.AppendRaw("""{"cid":"dead","module":"opt","op":"set""");   // the writer died here
        var cid = h.Run.Set("opt", """{"lr": 0.004}""");                   // the next writer closes the torn line first
        h.Step(0);

        var lines = h.Run.Decisions();
        Assert.Equal(2, lines.Count);
        Assert.Equal(Decision.Rejected, lines[0].Decision);
        Assert.Contains("invalid JSON", lines[0].Error);
        Assert.Equal(cid, lines[1].Cid);
        Assert.Equal(Decision.Applied, lines[1].Decision);
        Assert.Equal(0.004, h.Lr());
    }

    [Fact]
    public void An_invalid_json_line_gets_a_rejected_ledger_line_once_even_across_restarts()
    {
        using var h = new Harness();
        h.Run.AppendRaw("this is not json\n");
        h.Run.Set("opt", """{"lr": 0.005}""");
        h.Step(0);
        h.Restart();
        h.Step(1);

        var lines = h.Run.Decisions();
        Assert.Equal(2, lines.Count);
        var rejected = lines[0];
        Assert.Equal(Decision.Rejected, rejected.Decision);
        Assert.Equal("inbox@0", rejected.Cid);
        Assert.StartsWith("kiln.commands.jsonl line 1: invalid JSON", rejected.Error);
        Assert.Equal(Decision.Applied, lines[1].Decision);
    }

    [Fact]
    public void A_line_over_one_mebibyte_is_rejected_without_stopping_the_commands_after_it()
    {
        using var h = new Harness();
        var huge = """{"module":"opt","op":"set_params","params":{"pad":""" + "\"" + new string('x', (1 << 20) + 10) + "\"}}\n";
        h.Run.AppendRaw(huge);
        h.Run.Set("opt", """{"lr": 0.006}""");
        h.Step(0);

        var lines = h.Run.Decisions();
        Assert.Equal(2, lines.Count);
        Assert.Equal(Decision.Rejected, lines[0].Decision);
        Assert.Contains("exceeds the limit of 1048576 bytes", lines[0].Error);
        Assert.Equal(0.006, h.Lr());
    }

    [Fact]
    public void An_oversized_line_still_being_written_is_skipped_once_its_newline_arrives()
    {
        using var h = new Harness();
        h.Run.AppendRaw(new string('y', (1 << 20) + 100));
        h.Step(0);
        Assert.Empty(h.Run.Decisions());
        h.Run.AppendRaw(new string('y', 50) + "\n");
        h.Run.Set("opt", """{"lr": 0.007}""");
        h.Step(1);
        var lines = h.Run.Decisions();
        Assert.Equal(2, lines.Count);
        Assert.Equal(Decision.Rejected, lines[0].Decision);
        Assert.Equal(0.007, h.Lr());
    }

    [Fact]
    public void A_reused_cid_is_reported_not_applied_twice()
    {
        using var h = new Harness();
        h.Run.Send("""{"cid":"same","module":"opt","op":"set_params","params":{"lr":0.002}}""");
        h.Step(0);
        h.Run.Send("""{"cid":"same","module":"opt","op":"set_params","params":{"lr":0.009}}""");
        h.Step(1);
        Assert.Equal(0.002, h.Lr());
        var lines = h.Run.Decisions();
        Assert.Equal(2, lines.Count);
        Assert.Equal(Decision.Rejected, lines[1].Decision);
        Assert.Contains("duplicate cid same", lines[1].Error);
    }

    [Fact]
    public void A_torn_ledger_tail_from_a_killed_kernel_is_dropped_and_numbering_goes_on()
    {
        using var h = new Harness();
        h.Run.Set("opt", """{"lr": 0.002}""");
        h.Step(0);
        h.Kernel.Dispose();
        File.AppendAllText(h.Run.Files.LedgerPath, """{"seq":99,"cid":"half""");

        h.Restart();
        h.Run.Set("opt", """{"lr": 0.003}""");
        h.Step(1);

        var ledger = h.Run.Ledger();
        Assert.All(ledger, e => Assert.NotEqual(99, e.Seq));
        Assert.Contains(ledger, e => e.Op == "recover" && e.Notes!.Contains("unfinished last line", StringComparison.Ordinal));
        Assert.Equal(Enumerable.Range(1, ledger.Count).Select(i => (long)i), ledger.Select(e => e.Seq));
        Assert.Equal(0.003, h.Lr());
    }

    [Fact]
    public void Two_kernels_cannot_drive_one_run_directory()
    {
        using var h = new Harness();
        h.Step(0);
        using var second = new KilnKernel(h.Dir, h.Options);
        var ex = Assert.Throws<InvalidOperationException>(() => second.Apply(0, "train_step_end"));
        Assert.Contains("another kernel is running", ex.Message);
    }
}
