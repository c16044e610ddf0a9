using Kiln.Testing;
using System.Text.Json.Nodes;
using Kiln.Kernel;
using Kiln.Modules.Callbacks;
using Kiln.Modules.Loss;
using Kiln.Modules.Opt;
using Kiln.Protocol;
using Kiln.Modules;

namespace Kiln.Core.Tests;

/// <summary>What the opt, loss and cb modules do with valid commands, and kiln.yaml.</summary>
public sealed class ModuleTests
{
    [Fact]
    public void Lr_sets_every_group_and_group_or_groups_target_some()
    {
        using var h = new Harness();
        h.Run.Set("opt", """{"lr": 0.002}""");
        h.Step(0);
        Assert.Equal((0.002, 0.002), (h.Lr(0), h.Lr(1)));
        var line = h.Run.Decisions().Single();
        Assert.Equal("""{"lr":0.002}""", line.Payload!.ToJsonString());

        h.Run.Set("opt", """{"group": "head", "lr": 0.05}""");
        h.Run.Set("opt", """{"group": 0, "weight_decay": 0.1}""");
        h.Run.Set("opt", """{"groups": {"backbone": {"lr": 1e-4}, "head": {"betas": [0.5, 0.6]}, "tail": {"lr": 1}}}""");
        h.Step(1);
        Assert.Equal((1e-4, 0.05), (h.Lr(0), h.Lr(1)));
        Assert.Equal((0.1, 0.0), (h.Opt[0].WeightDecay, h.Opt[1].WeightDecay));
        Assert.Equal((0.5, 0.6), (h.Opt[1].Beta1, h.Opt[1].Beta2));
        var last = h.Run.Decisions().Last();
        Assert.Equal("""{"groups":{"backbone":{"lr":0.0001},"head":{"betas":[0.5,0.6]}}}""", last.Payload!.ToJsonString());
        Assert.Equal("groups.tail: no group \"tail\" (groups: backbone, head)", last.Notes);
    }

    [Fact]
    public void Lr_rebases_the_schedule_scale_multiplies_it_and_drop_compounds()
    {
        using var h = new Harness(groups: [("0", 0.1, new StepSchedule(10, 0.5))]);
        h.Step(0);
        Assert.Equal(0.05, h.Lr(0, 10), 12);

        h.Run.Set("opt", """{"lr": 0.02}""");
        h.Step(10);                                        // rebase at step 10: lr(10) = 0.02, and the schedule goes on
        Assert.Equal(0.02, h.Lr(0, 10), 12);
        Assert.Equal(0.01, h.Lr(0, 20), 12);

        h.Run.Set("opt", """{"scheduler_scale": 0.5}""");
        h.Step(11);
        Assert.Equal(0.005, h.Lr(0, 20), 12);
        h.Run.Set("opt", """{"scheduler_scale": 0.5}""");    // idempotent: the scale is set, not multiplied
        h.Step(12);
        Assert.Equal(0.005, h.Lr(0, 20), 12);

        h.Run.Set("opt", """{"scheduler_drop": 0.1}""");
        h.Step(13);
        h.Run.Set("opt", """{"scheduler_drop": 0.1}""");    // drops compound
        h.Step(14);
        Assert.Equal(0.00005, h.Lr(0, 20), 12);
        h.Run.Set("opt", """{"scheduler_scale": 1}""");      // undoes the scale, keeps the drops
        h.Step(15);
        Assert.Equal(0.0001, h.Lr(0, 20), 12);
    }

    [Fact]
    public void Without_actuators_opt_and_loss_changes_are_rejected_by_name()
    {
        using var dir = new TempDir();
        var run = new RunDir(dir.Path);
        using var kernel = new KilnKernel(dir.Path, new KernelOptions { PollInterval = TimeSpan.Zero });
        run.Set("opt", """{"lr": 0.1}""");
        run.Set("loss", """{"cls_w": 1}""");
        kernel.Apply(0, "train_step_end");
        Assert.Equal(["no optimizer actuator is registered in this run", "no loss actuator is registered in this run"], run.Ledger().Select(l => l.Error));
    }

    [Fact]
    public void Metrics_lines_round_trip_and_leave_out_non_finite_values()
    {
        var line = new MetricsRecord(12, 1, "train", 1.5, new Dictionary<string, double> { ["loss"] = 0.25, ["bad"] = double.NaN });
        var text = System.Text.Encoding.UTF8.GetString(line.ToJsonLine());
        Assert.Equal("""{"step":12,"epoch":1,"phase":"train","wall_time":1.5,"metrics":{"loss":0.25}}""", text);
        var back = MetricsRecord.FromJson(JsonNode.Parse(text));
        Assert.Equal((12L, 0.25), (back.Step, back.Metrics["loss"]));
    }

    [Fact]
    public void Keys_the_optimizer_lacks_are_rejected_by_name()
    {
        using var h = new Harness();
        h.Restart();
        var sgd = new OptimizerDials("sgd", 0.1, supported: [OptimizerKey.WeightDecay, OptimizerKey.Momentum, OptimizerKey.ClipNorm]);
        h.Kernel.AddOptimizer(sgd, "sgd");
        h.Run.Send("opt", "set_params", "sgd", new JsonObject { ["betas"] = new JsonArray(0.9, 0.99), ["momentum"] = 0.8 });
        h.Step(0);
        var line = h.Run.Decisions().Single();
        Assert.Equal(Decision.Applied, line.Decision);
        Assert.Equal("betas: not supported by this optimizer (sgd)", line.Notes);
        Assert.Equal(0.8, sgd[0].Momentum);
    }

    [Fact]
    public void Clip_norm_is_global_and_null_turns_it_off()
    {
        using var h = new Harness();
        h.Run.Set("opt", """{"clip_norm": 2.5}""");
        h.Step(0);
        Assert.Equal(2.5, h.Opt.ClipNorm);
        h.Run.Set("opt", """{"groups": {"head": {"clip_norm": 1}}}""");
        h.Run.Set("opt", """{"clip_norm": null}""");
        h.Step(1);
        var lines = h.Run.Decisions();
        Assert.Equal("groups.head.clip_norm: clip_norm is global; set it without groups", lines[1].Error);
        Assert.Equal(0, h.Opt.ClipNorm);
    }

    [Fact]
    public void A_disabled_handle_skips_changes_until_enabled()
    {
        using var h = new Harness();
        h.Run.Send("opt", "disable");
        h.Run.Set("opt", """{"lr": 0.5}""");
        h.Run.Send("opt", "disable");
        h.Run.Send("opt", "enable");
        h.Run.Set("opt", """{"lr": 0.4}""");
        h.Step(0);
        Assert.Equal([Decision.Applied, Decision.SkippedNoop, Decision.SkippedNoop, Decision.Applied, Decision.Applied], h.Run.Decisions().Select(l => l.Decision));
        Assert.Equal(0.4, h.Lr());
    }

    [Fact]
    public void Loss_weights_terms_and_ramps_shape_the_effective_weight()
    {
        using var h = new Harness();
        h.Run.Set("loss", """{"cls_w": 2, "terms.recon": false}""");
        h.Step(0);
        Assert.Equal((2.0, 0.0), (h.Loss.Effective("cls", 0), h.Loss.Effective("recon", 0)));

        h.Run.Set("loss", """{"terms.recon": true, "ramps.recon": {"type": "linear", "end_step": 20, "end": 2}}""");
        h.Step(10);                            // the ramp starts now (step 10) at 0 and reaches 2 at step 20
        Assert.Equal(0.0, h.Loss.Effective("recon", 10), 12);
        Assert.Equal(0.5, h.Loss.Effective("recon", 15), 12);   // 0.5 × (0 + 2 × 0.5)
        Assert.Equal(1.0, h.Loss.Effective("recon", 25), 12);
        var ramp = h.Run.Decisions().Last().Payload!["ramps.recon"]!;
        Assert.Equal("""{"type":"linear","start_step":10,"end_step":20,"start":0,"end":2}""", ramp.ToJsonString());

        h.Run.Set("loss", """{"ramps.recon": null}""");
        h.Step(11);
        Assert.Equal(0.5, h.Loss.Effective("recon", 15));
    }

    [Theory]
    [InlineData("linear", 5, 0.5)]
    [InlineData("linear", 2, 0.2)]
    [InlineData("cosine", 5, 0.5)]
    [InlineData("cosine", 2, 0.09549150281252629)]
    [InlineData("step", 9, 0)]
    [InlineData("step", 10, 1)]
    public void Ramp_shapes_go_from_start_to_end_and_hold(string type, long step, double expected)
    {
        var ramp = new LossRamp(type, 0, 10, 0, 1);
        Assert.Equal(expected, ramp.At(step), 12);
        Assert.Equal(0, ramp.At(-5));
        Assert.Equal(1, ramp.At(50));
    }

    [Fact]
    public void Exp_ramps_move_geometrically_and_warmup_frac_needs_max_steps()
    {
        var exp = new LossRamp("exp", 0, 10, 0.01, 1);
        Assert.Equal(0.1, exp.At(5), 12);

        using var h = new Harness();
        h.Run.Set("loss", """{"ramps.cls": {"type": "linear", "warmup_frac": 0.2}}""");
        h.Step(0);
        Assert.Contains("warmup_frac: the run's max_steps is unknown", h.Run.Decisions().Last().Error);

        h.Env.MaxSteps = 100;
        h.Run.Set("loss", """{"ramps.cls": {"type": "linear", "warmup_frac": 0.2, "start_step": 0}}""");
        h.Step(1);
        Assert.Equal(0.5, h.Loss.Effective("cls", 10), 12);
        Assert.Equal(20, (long)h.Run.Decisions().Last().Payload!["ramps.cls"]!["end_step"]!);
    }

    [Fact]
    public void Ramps_typed_as_a_json_string_are_accepted()
    {
        using var h = new Harness();
        h.Run.Set("loss", """{"ramps.cls": "{\"type\":\"step\",\"end_step\":3}"}""");
        h.Step(0);
        Assert.Equal(Decision.Applied, h.Run.Decisions().Single().Decision);
        Assert.Equal(1.0, h.Loss.Effective("cls", 3));
    }

    [Fact]
    public void Callbacks_load_from_a_type_with_init_arguments_and_obey_every_op()
    {
        using var h = new Harness();
        h.Run.Send("""{"module":"cb","op":"load","id":"c","target":{"kind":"type","path":"Kiln.Testing","symbol":"CountingCallback"},"init":{"every":4},"enabled":false}""");
        h.Step(0);
        var cb = Assert.IsType<CountingCallback>(h.Kernel.GetCallback("c"));
        Assert.Equal(("c", 4, 0), (cb.Id, cb.Every, cb.Calls));

        h.Run.Send("cb", "enable", "c");
        h.Step(1);
        h.Step(2);
        Assert.Equal(["1:train_step_end", "2:train_step_end"], cb.Events);

        h.Run.Set("cb", """{"every": 9}""", id: "c");
        h.Run.Send("cb", "unload", "c");
        h.Step(3);
        Assert.Equal(9, cb.Every);
        Assert.True(cb.Closed);
        Assert.Null(h.Kernel.GetCallback("c"));
        var load = h.Run.Decisions().First();
        Assert.Equal("""{"target":{"kind":"type","path":"Kiln.Testing","symbol":"CountingCallback"},"init":{"every":4},"enabled":false}""", load.Payload!.ToJsonString());
    }

    [Theory]
    [InlineData("""{"kind":"type","path":"No.Such.Type"}""", null, "target: no type 'No.Such.Type' is loaded in this process")]
    [InlineData("""{"kind":"type","path":"Kiln.Testing.CountingCallback"}""", """{"every":"often"}""", "init.every: expected int, got \"often\"")]
    [InlineData("""{"kind":"type","path":"Kiln.Testing.CountingCallback"}""", """{"colour":"red"}""", "init: no constructor parameter for 'colour'")]
    [InlineData("""{"kind":"type","path":"Kiln.Core.Tests.ThrowingCallback"}""", null, "InvalidOperationException: constructor failed")]
    [InlineData("""{"kind":"type","path":"System.String"}""", null, "target: System.String has no Id property or field, has no Handle(string evt, KernelEnv env) method and has no SetParams(JsonObject parameters) method; a callback implements IKilnCallback")]
    [InlineData("""{"kind":"file","path":"callbacks/Viz.cs","symbol":"Viz"}""", null, "needs Kiln.Scripting's compiler")]
    [InlineData("""{"kind":"assembly","path":"missing.dll","symbol":"A.B"}""", null, "assembly not found")]
    public void A_failed_load_is_a_failed_line_with_the_cause_and_training_goes_on(string target, string? init, string error)
    {
        using var h = new Harness();
        h.Run.Send($$"""{"module":"cb","op":"load","id":"x","target":{{target}}{{(init is null ? "" : ",\"init\":" + init)}}}""");
        h.Run.Set("opt", """{"lr": 0.3}""");
        h.Step(0);
        var lines = h.Run.Decisions();
        Assert.Equal(Decision.Failed, lines[0].Decision);
        Assert.Contains(error, lines[0].Error);
        Assert.Null(h.Kernel.GetCallback("x"));
        Assert.Equal(0.3, h.Lr());
    }

    [Fact]
    public void Kiln_yaml_sets_the_baseline_and_its_edits_become_ledgered_changes()
    {
        using var h = new Harness();
        h.Run.WriteConfig("""
            version: 1
            kernel: {poll_interval_ms: 0, auto_disable_on_error: true}
            callbacks:
              counter:
                target: {kind: type, path: Kiln.Testing.CountingCallback}
                init: {every: 2}
                params: {every: 3}
            opt:
              params: {lr: 0.02, weight_decay: 0.001}
              bounds: {lr: [0, 0.1]}
            loss:
              params: {cls_w: 4}
            """);
        h.Step(0);
        var cb = Assert.IsType<CountingCallback>(h.Kernel.GetCallback("counter"));
        Assert.Equal(3, cb.Every);
        Assert.Equal((0.02, 0.001, 4.0), (h.Lr(), h.Opt[0].WeightDecay, h.Loss.GetWeight("cls")));
        var baseline = h.Run.Ledger();
        Assert.All(baseline, l => Assert.Equal(KilnKernel.StartEvent, l.Event));
        Assert.All(baseline, l => Assert.Null(l.Step));
        Assert.All(baseline, l => Assert.Contains(l.Decision, new[] { Decision.Applied }));

        h.Run.Set("opt", """{"lr": 0.5}""");     // above the yaml's bound
        h.Step(1);
        Assert.Equal("lr: 0.5 above max 0.1", h.Run.Decisions().Last().Error);

        h.Run.WriteConfig("""
            version: 1
            callbacks:
              counter:
                target: {kind: type, path: Kiln.Testing.CountingCallback}
                init: {every: 2}
                enabled: false
                params: {every: 5}
            opt:
              params: {lr: 0.02, weight_decay: 0.01}
            loss:
              params: {cls_w: 4}
            """);
        h.Step(2);
        var changes = h.Run.Decisions().Where(l => l.Step == 2).Select(l => (l.Module, l.Op, l.Source, l.Decision)).ToList();
        Assert.Contains(("core", "config", Sources.Yaml, Decision.Applied), changes);
        Assert.Contains(("opt", "set_params", Sources.Yaml, Decision.Applied), changes);
        Assert.Contains(("cb", "disable", Sources.Yaml, Decision.Applied), changes);
        Assert.Contains(("cb", "set_params", Sources.Yaml, Decision.Applied), changes);
        Assert.Equal(0.01, h.Opt[0].WeightDecay);
        Assert.Equal(0.02, h.Lr());                                   // unchanged key: not re-applied
        Assert.False(h.Kernel.IsCallbackEnabled("counter"));
        Assert.Equal(5, cb.Every);
        var optChange = h.Run.Decisions().Single(l => l.Step == 2 && l.Module == "opt");
        Assert.Equal("""{"weight_decay":0.01}""", optChange.Params!.ToJsonString());

        h.Run.WriteConfig("version: 1\n");
        h.Step(3);
        Assert.Null(h.Kernel.GetCallback("counter"));
    }

    [Theory]
    [InlineData("opt: {params: {lr: 0.1}}\n", "version: missing")]
    [InlineData("version: 1\nopt: {parms: {lr: 0.1}}\n", "opt: unknown key 'parms'")]
    [InlineData("version: 1\nkernel: {debounce_steps: 0}\n", "kernel.debounce_steps: must be an integer from 1 to 2147483647, got 0")]
    [InlineData("version: 1\nkernel: {debounce_steps: 100000000000}\n", "kernel.debounce_steps: must be an integer from 1 to 2147483647, got 100000000000")]
    [InlineData("version: 1\nkernel: {poll_interval_ms: 1e300}\n", "kernel.poll_interval_ms: must be from 0 to 3600000 (an hour), got 1e+300")]
    [InlineData("version: 1\nkernel: {wait_for_disk_space: sometimes}\n", "kernel.wait_for_disk_space: ")]
    [InlineData("version: 1\ncallbacks: {x: {init: {}}}\n", "callbacks.x.target: missing")]
    [InlineData("version: 1\nopt: {bounds: {lr: [1, 0]}}\n", "opt.bounds.lr: min 1 is above max 0")]
    [InlineData("version: 1\nopt: [1\n", "kiln.yaml: line ")]
    public void A_bad_kiln_yaml_is_rejected_by_file_and_key_and_the_previous_settings_stay(string yaml, string error)
    {
        using var h = new Harness();
        h.Run.WriteConfig(yaml);
        h.Step(0);
        var line = Assert.Single(h.Run.Ledger());
        Assert.Equal(("core", "config", Decision.Rejected), (line.Module, line.Op, line.Decision));
        Assert.StartsWith("kiln.yaml: ", line.Error);
        Assert.Contains(error, line.Error);
        h.Run.Set("opt", """{"lr": 0.3}""");
        h.Step(1);
        Assert.Equal(0.3, h.Lr());
    }

    [Fact]
    public void Unknown_bounds_keys_are_rejected()
    {
        using var h = new Harness();
        h.Run.WriteConfig("version: 1\nopt: {bounds: {speed: [0, 1]}}\nloss: {bounds: {cls: [0, 1]}}\n");
        h.Step(0);
        var errors = h.Run.Ledger().Where(l => l.Decision == Decision.Rejected).Select(l => l.Error).ToList();
        Assert.Equal(2, errors.Count);
        Assert.Contains("opt.bounds.speed: unknown key", errors[0]);
        Assert.Contains("loss.bounds.cls: bounds apply to weight keys", errors[1]);
    }

    [Fact]
    public void The_factory_binds_init_keys_by_name_including_snake_case()
    {
        var cb = (SnakeCallback)CallbackFactory.Create(typeof(SnakeCallback), "s", (JsonObject)JsonNode.Parse("""{"log_every": 7, "tags": ["a", "b"]}""")!);
        Assert.Equal(("s", 7, "a,b", 0.5), (cb.Id, cb.LogEvery, string.Join(",", cb.Tags), cb.Threshold));
    }
}

public sealed class ThrowingCallback : IKilnCallback
{
    public ThrowingCallback() => throw new InvalidOperationException("constructor failed");
    public string Id => "t";
    public void Handle(string evt, KernelEnv env) { }
    public void SetParams(JsonObject parameters) { }
}

public sealed class SnakeCallback(string id, int logEvery, string[] tags, double threshold = 0.5) : IKilnCallback
{
    public string Id { get; } = id;
    public int LogEvery { get; } = logEvery;
    public string[] Tags { get; } = tags;
    public double Threshold { get; } = threshold;
    public void Handle(string evt, KernelEnv env) { }
    public void SetParams(JsonObject parameters) { }
}
