using Kiln.Testing;
using System.Text;
using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Kernel;
using Kiln.Protocol;
using Kiln.Modules.Opt;

namespace Kiln.Core.Tests;

/// <summary>The kernel rules of DESIGN §2 (rule 1, exactly once, has its own file), one region per rule.</summary>
public sealed class KernelRuleTests
{
    // ---- 2. Cheap when idle ----

    [Fact]
    public void Files_are_read_at_most_every_poll_interval_and_seq_increases_strictly()
    {
        using var h = new Harness(poll: TimeSpan.FromSeconds(10));
        h.Step(0);                                   // polls (first call)
        h.Run.Set("opt", """{"lr": 0.002}""");
        h.Run.Set("opt", """{"lr": 0.003}""");
        h.Run.Set("opt", """{"lr": 0.004}""");
        h.Step(1);                                   // too soon: no poll
        Assert.Empty(h.Run.Decisions());

        h.Clock.Advance(TimeSpan.FromSeconds(10));
        h.Step(2);
        Assert.Equal(3, h.Run.Decisions().Count);

        h.Run.Set("opt", """{"lr": 0.005}""");
        h.Run.Set("opt", """{"lr": 0.006}""");
        h.Clock.Advance(TimeSpan.FromSeconds(10));
        h.Step(3);
        var seqs = h.Run.Decisions().Select(e => e.Seq).ToList();
        Assert.Equal(5, seqs.Count);
        Assert.True(seqs.Zip(seqs.Skip(1)).All(p => p.Second > p.First));
        Assert.Equal(0.006, h.Lr());
    }

    [Fact]
    public void Debounce_polls_every_nth_call()
    {
        using var h = new Harness(debounce: 5);
        h.Run.Set("opt", """{"lr": 0.002}""");
        for (var call = 1; call <= 4; call++)
        {
            h.Step(call);
            Assert.Empty(h.Run.Decisions());
        }
        h.Step(5);
        Assert.Single(h.Run.Decisions());

        h.Run.Set("opt", """{"lr": 0.003}""");
        for (var call = 6; call <= 9; call++) h.Step(call);
        Assert.Single(h.Run.Decisions());
        h.Step(10);
        var second = h.Run.Decisions()[1];
        Assert.Equal(10, second.Step);
    }

    // ---- 3. Validate, then apply ----

    [Fact]
    public void Out_of_bounds_values_are_rejected_and_nothing_changes()
    {
        using var h = new Harness();
        h.Run.Set("loss", """{"cls_w": 500}""");
        h.Step(0);
        var line = Assert.Single(h.Run.Decisions());
        Assert.Equal(Decision.Rejected, line.Decision);
        Assert.Equal("cls_w: 500 above max 100", line.Error);
        Assert.Equal(1.0, h.Loss.GetWeight("cls"));
    }

    [Fact]
    public void Partial_application_is_reported_key_by_key()
    {
        using var h = new Harness();
        h.Run.Set("loss", """{"recon_w": 0.25, "nonexistent": 2, "cls_w": "heavy"}""");
        h.Step(0);
        var line = Assert.Single(h.Run.Decisions());
        Assert.Equal(Decision.Applied, line.Decision);
        Assert.Equal("""{"recon_w":0.25}""", line.Payload!.ToJsonString());
        Assert.Contains("nonexistent: unknown key", line.Notes);
        Assert.Contains("cls_w: expected a number, got \"heavy\"", line.Notes);
        Assert.Equal(0.25, h.Loss.GetWeight("recon"));
        Assert.Equal(1.0, h.Loss.GetWeight("cls"));
    }

    [Fact]
    public void Zero_and_exponent_notation_are_numbers()
    {
        using var h = new Harness();
        h.Run.Set("opt", """{"lr": 1e-4, "weight_decay": 0}""");
        h.Step(0);
        var line = Assert.Single(h.Run.Decisions());
        Assert.Equal(Decision.Applied, line.Decision);
        Assert.Null(line.Notes);
        Assert.Equal(1e-4, h.Lr());
        Assert.Equal(0, h.Opt[0].WeightDecay);
    }

    [Theory]
    [InlineData("""{"module":"nope","op":"x"}""", "module: unknown module \"nope\"")]
    [InlineData("""{"module":"opt","op":"explode"}""", "op: unknown op \"explode\" for module opt")]
    [InlineData("""{"module":"opt","op":"set_params","params":{}}""", "params: nothing to set")]
    [InlineData("""{"module":"opt","op":"set_params","params":[1]}""", "params: expected an object")]
    [InlineData("""{"module":"opt","op":"set_params","parms":{"lr":1}}""", "unknown key 'parms'")]
    [InlineData("""{"module":"opt","op":"set_params","params":{"lr":-1}}""", "lr: -1 below min 0")]
    [InlineData("""{"module":"opt","op":"set_params","params":{"betas":0.9}}""", "betas: expected [beta1, beta2]")]
    [InlineData("""{"module":"opt","op":"set_params","params":{"group":"tail","lr":0.1}}""", "group: no group \"tail\" (groups: backbone, head)")]
    [InlineData("""{"module":"opt","op":"set_params","id":"disc","params":{"lr":0.1}}""", "id: no optimizer 'disc' (known: main)")]
    [InlineData("""{"module":"loss","op":"set_params","params":{"depth_w":1}}""", "depth_w: no loss term 'depth' (terms: cls, recon)")]
    [InlineData("""{"module":"loss","op":"set_params","params":{"terms.cls":"no"}}""", "terms.cls: expected true or false, got \"no\"")]
    [InlineData("""{"module":"loss","op":"set_params","params":{"ramps.cls":{"type":"zigzag","end_step":5}}}""", "ramps.cls.type: unknown ramp \"zigzag\"")]
    [InlineData("""{"module":"cb","op":"enable"}""", "id: a cb command needs the callback's id")]
    [InlineData("""{"module":"cb","op":"enable","id":"ghost"}""", "id: no callback 'ghost' (none loaded)")]
    [InlineData("""{"module":"tune","op":"enable"}""", "module: tune is not available in this run")]
    [InlineData("""{"module":"core","op":"freeze","params":{"mode":"ice"}}""", "params.mode: unknown mode \"ice\"")]
    [InlineData("""[1,2]""", "expected a JSON object")]
    public void Bad_commands_are_rejected_with_an_error_naming_the_key_and_value(string line, string error)
    {
        using var h = new Harness();
        h.Run.Send(line);
        h.Step(0);
        var entry = Assert.Single(h.Run.Decisions());
        Assert.Equal(Decision.Rejected, entry.Decision);
        Assert.Contains(error, entry.Error);
        Assert.Equal(0.01, h.Lr());
    }

    // ---- 4. The trainer's step is the step ----

    [Fact]
    public void Step_zero_is_step_zero()
    {
        using var h = new Harness();
        h.Run.Set("opt", """{"lr": 0.002}""");
        h.Step(0);
        h.Run.Set("opt", """{"lr": 0.003}""");
        h.Step(0, "val_epoch_end");
        var lines = h.Run.Decisions();
        Assert.All(lines, l => Assert.Equal(0, l.Step));
        Assert.Equal(["train_step_end", "val_epoch_end"], lines.Select(l => l.Event));
        Assert.All(lines, l => Assert.Equal("train", l.Phase));
    }

    // ---- 5. Freeze gates everything external ----

    [Fact]
    public void Prod_freeze_ignores_external_changes_and_unfreeze_lets_them_through()
    {
        using var h = new Harness();
        h.Run.Send("core", "freeze", parameters: new JsonObject { ["mode"] = "prod" });
        h.Run.Set("opt", """{"lr": 0.5}""");
        h.Step(0);
        Assert.True(File.Exists(h.Run.Files.FreezePath));
        var lines = h.Run.Decisions();
        Assert.Equal(Decision.Applied, lines[0].Decision);
        Assert.Equal(Decision.IgnoredFreeze, lines[1].Decision);
        Assert.Equal(0.01, h.Lr());

        h.Run.Send("core", "unfreeze");
        h.Run.Set("opt", """{"lr": 0.5}""");
        h.Step(1);
        Assert.False(File.Exists(h.Run.Files.FreezePath));
        Assert.Equal(0.5, h.Lr());
    }

    [Fact]
    public void A_freeze_file_written_by_the_command_line_is_picked_up_and_ledgered()
    {
        using var h = new Harness();
        h.Step(0);
        AtomicFile.WriteJson(h.Run.Files.FreezePath, new FreezeState { Mode = FreezeState.Prod }.ToJson());
        h.Run.Set("opt", """{"lr": 0.5}""");
        h.Step(1);
        var lines = h.Run.Decisions();
        Assert.Equal(("core", "freeze", Sources.FreezeFile, Decision.Applied), (lines[0].Module, lines[0].Op, lines[0].Source, lines[0].Decision));
        Assert.Equal(Decision.IgnoredFreeze, lines[1].Decision);
    }

    [Fact]
    public void A_corrupt_freeze_file_is_rejected_and_the_mode_stays()
    {
        using var h = new Harness();
        h.Run.Send("core", "freeze", parameters: new JsonObject { ["mode"] = "prod" });
        h.Step(0);
        File.WriteAllText(h.Run.Files.FreezePath, "{ \"mode\": ");
        h.Run.Set("opt", """{"lr": 0.5}""");
        h.Step(1);
        var lines = h.Run.Decisions();
        var rejected = lines.Single(l => l.Decision == Decision.Rejected);
        Assert.StartsWith("kiln.freeze.json: ", rejected.Error);
        Assert.Contains("the freeze mode stays prod", rejected.Error);
        Assert.Equal(Decision.IgnoredFreeze, lines.Last().Decision);
    }

    [Fact]
    public void Kiln_yaml_changes_are_gated_by_freeze_and_applied_on_unfreeze()
    {
        using var h = new Harness();
        h.Run.WriteConfig("version: 1\nopt:\n  params: {lr: 0.02}\n");
        h.Step(0);
        Assert.Equal(0.02, h.Lr());
        h.Run.Send("core", "freeze", parameters: new JsonObject { ["mode"] = "prod" });
        h.Step(1);
        h.Run.WriteConfig("version: 1\nopt:\n  params: {lr: 0.03}\n");
        h.Step(2);
        Assert.Equal(0.02, h.Lr());
        Assert.Contains(h.Run.Decisions(), l => l.Op == "config" && l.Decision == Decision.IgnoredFreeze);

        h.Run.Send("core", "unfreeze");
        h.Step(3);
        h.Step(4);
        Assert.Equal(0.03, h.Lr());
        var applied = h.Run.Decisions().Last(l => l.Module == "opt");
        Assert.Equal((Sources.Yaml, Decision.Applied), (applied.Source, applied.Decision));
    }

    // ---- 8. Failure isolation ----

    [Fact]
    public void A_throwing_callback_is_disabled_ledgered_with_its_exception_and_training_goes_on()
    {
        using var h = new Harness();
        var cb = new CountingCallback("viz") { Throw = true };
        h.Kernel.AddCallback(cb);
        h.Step(0);
        h.Step(1);
        Assert.False(h.Kernel.IsCallbackEnabled("viz"));
        var failure = Assert.Single(h.Run.Decisions());
        Assert.Equal(("cb", "handle", "viz", Decision.Failed), (failure.Module, failure.Op, failure.Id, failure.Decision));
        Assert.Equal("handle(train_step_end) threw InvalidOperationException: boom at step 0", failure.Error);
        Assert.Contains("CountingCallback.Handle", failure.Traceback);

        cb.Throw = false;
        h.Run.Send("cb", "enable", "viz");
        h.Step(2);
        h.Step(3);
        Assert.True(h.Kernel.IsCallbackEnabled("viz"));
        Assert.Equal(2, cb.Calls);
    }

    [Fact]
    public void Without_auto_disable_a_throwing_callback_stays_enabled()
    {
        using var h = new Harness(autoDisable: false);
        var cb = new CountingCallback("viz") { Throw = true };
        h.Kernel.AddCallback(cb);
        h.Step(0);
        h.Step(1);
        Assert.True(h.Kernel.IsCallbackEnabled("viz"));
        Assert.Equal(2, h.Run.Decisions().Count(l => l.Decision == Decision.Failed));
    }

    [Fact]
    public void A_throwing_actuator_is_disabled_and_the_failure_is_ledgered()
    {
        using var h = new Harness(groups: [("0", 0.01, new Kiln.Modules.Opt.CosineSchedule(100, 10, 0))]);
        // The cosine warm-up's factor is never 0, but a scale of 0 makes rebasing impossible: the actuator throws.
        h.Run.Set("opt", """{"scheduler_scale": 0}""");
        h.Step(0);
        h.Run.Set("opt", """{"lr": 0.1}""");
        h.Step(1);
        h.Run.Set("opt", """{"lr": 0.2}""");
        h.Step(2);
        var lines = h.Run.Decisions();
        Assert.Equal(Decision.Failed, lines[1].Decision);
        Assert.Contains("cannot set lr at step 1", lines[1].Error);
        Assert.Contains("opt:main disabled", lines[1].Notes);
        Assert.Equal(Decision.SkippedNoop, lines[2].Decision);
    }

    // ---- 9. Many writers ----

    /// <summary>The many-writer probe, small here; <c>scripts/soak.sh</c> runs it with 100 commands a writer (KILN_SOAK=full).</summary>
    [Fact]
    public void A_hundred_concurrent_writers_lose_nothing()
    {
        var size = ProbeSize.FromEnvironment();
        using var h = new Harness();
        var step = 0L;
        var cids = ConcurrentWriters.Write(h.Run, size.Writers, size.CommandsPerWriter, () => h.Step(step++));
        var total = size.Writers * size.CommandsPerWriter;

        var audit = InboxAudit.Of(h.Dir);
        Assert.True(audit.Ok, audit.ToString());
        Assert.Equal(total, audit.Lines);
        Assert.All(audit.Decisions, d => Assert.Equal(Decision.Applied, d.Decision));
        Assert.Equal(cids.Order(StringComparer.Ordinal), audit.Decisions.Select(d => d.Cid!).Order(StringComparer.Ordinal));
        var values = audit.Decisions.Select(d => (int)Math.Round((double)d.Payload!["cls_w"]! * 100)).Order();
        Assert.Equal(Enumerable.Range(0, total), values);
    }

    [Fact]
    public void The_actuators_file_lists_every_dial_with_its_current_value()
    {
        using var h = new Harness();
        h.Kernel.AddCallback(new CountingCallback("timing"));
        h.Run.Set("opt", """{"groups": {"head": {"lr": 0.05}}}""");
        h.Step(0);
        var doc = JsonNode.Parse(File.ReadAllText(h.Run.Files.ActuatorsPath))!;
        var dials = doc["actuators"]!.AsArray();
        var headLr = dials.Single(d => (string?)d!["key"] == "lr" && (string?)d["group"] == "head")!;
        Assert.Equal(0.05, (double)headLr["value"]!);
        Assert.Equal("log_float", (string?)headLr["type"]);
        Assert.Contains(dials, d => (string?)d!["key"] == "cls_w" && (double)d["value"]! == 1.0);
        Assert.Contains(dials, d => (string?)d!["module"] == "cb" && (string?)d["id"] == "timing");
        Assert.Equal("off", (string?)doc["freeze"]!["mode"]);
        Assert.Equal(Encoding.UTF8.GetByteCount(File.ReadAllText(h.Run.Files.ActuatorsPath)), new FileInfo(h.Run.Files.ActuatorsPath).Length);
    }

    [Fact]
    public void The_actuators_file_follows_a_scheduled_lr_without_commands_and_tells_the_rate_from_its_base()
    {
        using var h = new Harness(groups: [("0", 0.1, new StepSchedule(10, 0.5))]);
        h.Step(0);
        JsonNode Lr() => JsonNode.Parse(File.ReadAllText(h.Run.Files.ActuatorsPath))!["actuators"]!.AsArray().Single(d => (string?)d!["key"] == "lr")!;
        Assert.Equal(0.1, (double)Lr()["value"]!, 12);
        Assert.Equal((0.1, 1.0, 1.0), ((double)Lr()["info"]!["base"]!, (double)Lr()["info"]!["scale"]!, (double)Lr()["info"]!["factor"]!));

        // The schedule halves the rate at step 10: the file says so within a second, though no command came.
        for (long step = 1; step <= 12; step++) h.Step(step);
        Assert.Equal(0.1, (double)Lr()["value"]!, 12);
        var written = File.GetLastWriteTimeUtc(h.Run.Files.ActuatorsPath);
        h.Clock.Advance(TimeSpan.FromSeconds(1));
        h.Step(13);
        Assert.Equal(0.05, (double)Lr()["value"]!, 12);
        Assert.Equal((0.1, 0.5), ((double)Lr()["info"]!["base"]!, (double)Lr()["info"]!["factor"]!));
        Assert.Equal(13, (long)JsonNode.Parse(File.ReadAllText(h.Run.Files.ActuatorsPath))!["step"]!);

        // Nothing moved since: nothing is written.
        File.SetLastWriteTimeUtc(h.Run.Files.ActuatorsPath, written);
        h.Clock.Advance(TimeSpan.FromSeconds(1));
        h.Step(14);
        Assert.Equal(written, File.GetLastWriteTimeUtc(h.Run.Files.ActuatorsPath));
    }
}
