using Kiln.Testing;
using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Kernel;
using Kiln.Protocol;
using Kiln.Replay;

namespace Kiln.Core.Tests;

/// <summary>Kernel rules 6 (replay is exact) and 7 (recipe export is lossless), and the adjust overlay.</summary>
public sealed class ReplayTests
{
    private static void WriteRecipe(Harness h, params string[] lines) =>
        File.WriteAllLines(h.Run.Files.RecipePath, lines);

    private static void Freeze(Harness h, string mode, string policy = FreezeState.BestEffort, long offset = 0, string? adjust = null) =>
        AtomicFile.WriteJson(h.Run.Files.FreezePath, new FreezeState
        {
            Mode = mode, RecipePath = RunFiles.Recipe, AdjustPath = adjust, Policy = policy, StepOffset = offset,
        }.ToJson());

    [Fact]
    public void Replay_fires_at_the_recorded_step_and_ignores_external_changes()
    {
        using var h = new Harness();
        WriteRecipe(h, """{"at":{"step":3,"event":"train_step_end"},"module":"opt","op":"set_params","id":"main","params":{"lr":3e-5}}""");
        Freeze(h, FreezeState.Replay);
        h.Run.Set("opt", """{"lr": 9e-4}""");
        for (var s = 0; s < 6; s++)
        {
            h.Step(s);
            Assert.Equal(s < 3 ? 0.01 : 3e-5, h.Lr());
        }
        var lines = h.Run.Decisions();
        Assert.Equal(Decision.IgnoredReplay, lines.Single(l => l.Source == "test").Decision);
        var replayed = lines.Single(l => l.Source == Sources.Replay);
        Assert.Equal((3L, Decision.Applied), (replayed.Step!.Value, replayed.Decision));
        Assert.StartsWith("replay:", replayed.Cid);
    }

    [Fact]
    public void The_step_offset_moves_every_entry()
    {
        using var h = new Harness();
        WriteRecipe(h, """{"at":{"step":3,"event":"train_step_end"},"module":"opt","op":"set_params","params":{"lr":3e-5}}""");
        Freeze(h, FreezeState.Replay, offset: 2);
        for (var s = 0; s < 8; s++) h.Step(s);
        Assert.Equal(5, h.Run.Decisions().Single(l => l.Source == Sources.Replay).Step);
    }

    [Fact]
    public void Replay_adjusted_applies_the_overlay_and_writes_the_effective_recipe()
    {
        using var h = new Harness();
        WriteRecipe(h, """{"at":{"step":3,"event":"train_step_end"},"module":"opt","op":"set_params","params":{"lr":3e-5}}""");
        File.WriteAllText(h.Run.Files.AdjustPath, """
            version: 1
            patches:
              - match: {module: opt, op: set_params}
                replace_params: {lr: 2.0e-5}
            """);
        Freeze(h, FreezeState.ReplayAdjusted, adjust: RunFiles.Adjust);
        for (var s = 0; s < 5; s++) h.Step(s);
        Assert.Equal(2e-5, h.Lr());
        Assert.Contains("\"lr\":2E-05", File.ReadAllText(h.Run.Files.EffectiveRecipePath), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void An_entry_whose_event_never_comes_is_reported_missed_as_soon_as_its_step_passes()
    {
        using var h = new Harness();
        WriteRecipe(h,
            """{"at":{"step":3,"event":"train_batch_end"},"module":"opt","op":"set_params","params":{"lr":0.1}}""",
            """{"at":{"step":3,"event":"train_step_end"},"module":"opt","op":"set_params","params":{"lr":0.2}}""");
        Freeze(h, FreezeState.Replay);
        for (var s = 0; s <= 3; s++) h.Step(s);
        Assert.Equal(0.2, h.Lr());
        Assert.DoesNotContain(h.Run.Decisions(), l => l.Decision == Decision.Missed);
        h.Step(4);
        var missed = Assert.Single(h.Run.Decisions(), l => l.Decision == Decision.Missed);
        Assert.Equal(4, missed.Step);
        Assert.StartsWith("missed_step:3:train_batch_end", missed.Error);
        Assert.Equal("""{"lr":0.1}""", missed.Params!.ToJsonString());
    }

    [Fact]
    public void Strict_policy_fails_the_run_at_the_first_missed_entry()
    {
        using var h = new Harness();
        WriteRecipe(h, """{"at":{"step":2,"event":"val_epoch_end"},"module":"opt","op":"set_params","params":{"lr":0.1}}""");
        Freeze(h, FreezeState.Replay, FreezeState.Strict);
        h.Step(0);
        h.Step(1);
        h.Step(2);
        var ex = Assert.Throws<ReplayMissedException>(() => h.Step(3));
        Assert.Contains("due at step 2 (val_epoch_end) was missed at step 3", ex.Message);
        Assert.Single(h.Run.Decisions(), l => l.Decision == Decision.Missed);
    }

    [Fact]
    public void Strict_policy_fails_the_run_at_an_entry_that_could_not_be_applied_and_best_effort_goes_on()
    {
        // A recipe entry this run cannot make: its optimizer has no group "decoder".
        const string entry = """{"at":{"step":1,"event":"train_step_end"},"module":"opt","op":"set_params","params":{"group":"decoder","lr":0.1}}""";
        using (var strict = new Harness())
        {
            WriteRecipe(strict, entry);
            Freeze(strict, FreezeState.Replay, FreezeState.Strict);
            strict.Step(0);
            var ex = Assert.Throws<ReplayMissedException>(() => strict.Step(1));
            Assert.Contains("recipe entry opt set_params  at step 1 (train_step_end) was rejected: group: no group", ex.Message);
            Assert.Single(strict.Run.Decisions(), l => l.Decision == Decision.Rejected && l.Source == Sources.Replay);
        }
        using var lenient = new Harness();
        WriteRecipe(lenient, entry);
        Freeze(lenient, FreezeState.Replay);
        for (var s = 0; s < 4; s++) lenient.Step(s);
        Assert.Single(lenient.Run.Decisions(), l => l.Decision == Decision.Rejected && l.Source == Sources.Replay);
    }

    [Fact]
    public void A_replay_that_ends_in_off_lifts_the_freeze_once_its_recipe_is_done()
    {
        using var h = new Harness();
        WriteRecipe(h, """{"at":{"step":2,"event":"train_step_end"},"module":"opt","op":"set_params","params":{"lr":0.05}}""");
        AtomicFile.WriteJson(h.Run.Files.FreezePath, new FreezeState { Mode = FreezeState.Replay, RecipePath = RunFiles.Recipe, After = FreezeState.Off }.ToJson());
        h.Step(0);
        h.Run.Set("opt", """{"lr": 0.9}""");
        h.Step(1);
        Assert.Equal(Decision.IgnoredReplay, h.Run.Decisions().Last().Decision);
        h.Step(2);
        Assert.Equal(0.05, h.Lr(0, 3));
        var lifted = h.Run.Decisions().Last();
        Assert.Equal(("core", "unfreeze", Decision.Applied), (lifted.Module, lifted.Op, lifted.Decision));
        Assert.False(File.Exists(h.Run.Files.FreezePath));
        h.Run.Set("opt", """{"lr": 0.02}""");
        h.Step(3);
        Assert.Equal(0.02, h.Lr(0, 4));
        Assert.Throws<ProtocolException>(() => new FreezeState { Mode = FreezeState.Prod, After = FreezeState.Off }.Validate());
    }

    [Fact]
    public void Entries_left_when_the_run_ends_are_missed_and_strict_raises()
    {
        using var h = new Harness();
        WriteRecipe(h, """{"at":{"step":9,"event":"train_step_end"},"module":"opt","op":"set_params","params":{"lr":0.1}}""");
        Freeze(h, FreezeState.Replay, FreezeState.Strict);
        for (var s = 0; s <= 5; s++) h.Step(s);
        var ex = Assert.Throws<ReplayMissedException>(() => h.Kernel.End());
        Assert.Contains("1 recipe entry was never applied", ex.Message);
        var missed = Assert.Single(h.Run.Ledger(), l => l.Decision == Decision.Missed);
        Assert.Equal(KilnKernel.EndEvent, missed.Event);
        Assert.StartsWith("missed_step:9:train_step_end", missed.Error);
    }

    [Fact]
    public void Best_effort_reports_the_same_line_and_goes_on()
    {
        using var h = new Harness();
        WriteRecipe(h, """{"at":{"step":9,"event":"train_step_end"},"module":"opt","op":"set_params","params":{"lr":0.1}}""");
        Freeze(h, FreezeState.Replay);
        for (var s = 0; s <= 5; s++) h.Step(s);
        h.Kernel.End();
        var missed = Assert.Single(h.Run.Ledger(), l => l.Decision == Decision.Missed);
        Assert.Equal(KilnKernel.EndEvent, missed.Event);
    }

    [Fact]
    public void A_missing_recipe_is_rejected_with_its_path_and_strict_fails_at_once()
    {
        using var h = new Harness();
        Freeze(h, FreezeState.Replay);
        h.Step(0);
        var rejected = Assert.Single(h.Run.Ledger(), l => l.Decision == Decision.Rejected);
        Assert.Contains("kiln.recipe.jsonl: recipe not found", rejected.Error);
        Assert.Equal(FreezeState.Off, h.Kernel.Freeze.Mode);

        using var strict = new Harness();
        Freeze(strict, FreezeState.Replay, FreezeState.Strict);
        var ex = Assert.Throws<ReplayMissedException>(() => strict.Step(0));
        Assert.Contains("recipe not found", ex.Message);
    }

    [Fact]
    public void A_corrupt_recipe_line_is_named_by_line_number()
    {
        using var h = new Harness();
        WriteRecipe(h,
            """{"at":{"step":1,"event":"train_step_end"},"module":"opt","op":"set_params","params":{"lr":0.1}}""",
            """{"at":{"event":"train_step_end"},"module":"opt","op":"set_params"}""");
        Freeze(h, FreezeState.Replay);
        h.Step(0);
        var rejected = Assert.Single(h.Run.Ledger(), l => l.Decision == Decision.Rejected);
        Assert.EndsWith("kiln.recipe.jsonl line 2: at.step: missing", rejected.Error);
    }

    [Fact]
    public void A_corrupt_adjust_file_is_rejected_naming_the_file_and_the_key()
    {
        using var h = new Harness();
        WriteRecipe(h, """{"at":{"step":3,"event":"train_step_end"},"module":"opt","op":"set_params","params":{"lr":3e-5}}""");
        File.WriteAllText(h.Run.Files.AdjustPath, "patches:\n  - match: {module: opt}\n    shift_step: soon\n");
        Freeze(h, FreezeState.ReplayAdjusted, adjust: RunFiles.Adjust);
        h.Step(0);
        var rejected = Assert.Single(h.Run.Ledger(), l => l.Decision == Decision.Rejected);
        Assert.Contains("kiln.adjust.yaml: patches[0].shift_step: expected an integer, got \"soon\"", rejected.Error);
        Assert.Equal(FreezeState.Off, h.Kernel.Freeze.Mode);
    }

    [Fact]
    public void A_restarted_replay_does_not_fire_entries_twice()
    {
        using var h = new Harness();
        WriteRecipe(h,
            """{"at":{"step":1,"event":"train_step_end"},"module":"loss","op":"set_params","params":{"cls_w":2}}""",
            """{"at":{"step":4,"event":"train_step_end"},"module":"loss","op":"set_params","params":{"cls_w":3}}""");
        Freeze(h, FreezeState.Replay);
        for (var s = 0; s <= 2; s++) h.Step(s);
        h.Restart();
        for (var s = 2; s <= 5; s++) h.Step(s);
        h.Kernel.End();
        var fired = h.Run.Ledger().Where(l => l.Source == Sources.Replay).ToList();
        Assert.Equal([1L, 4L], fired.Select(f => f.Step!.Value));
        Assert.All(fired, f => Assert.Equal(Decision.Applied, f.Decision));
    }

    /// <summary>Records every dial at every step of a 20-step run.</summary>
    private static List<string> Trace(Harness h, Action<long>? before = null)
    {
        var trace = new List<string>();
        for (long s = 0; s < 20; s++)
        {
            before?.Invoke(s);
            h.Step(s);
            if (s % 5 == 4) h.Step(s, "val_epoch_end");
            var cb = h.Kernel.GetCallback("counter") as CountingCallback;
            trace.Add(string.Join(" ",
                h.Lr(0, s), h.Lr(1, s), h.Opt[0].WeightDecay, h.Opt[1].Beta1, h.Opt.ClipNorm,
                h.Loss.Effective("cls", s), h.Loss.Effective("recon", s),
                cb is null ? "-" : $"{h.Kernel.IsCallbackEnabled("counter")}/{cb.Every}/{cb.Calls}"));
        }
        h.Kernel.End();
        return trace;
    }

    [Fact]
    public void An_exported_recipe_replayed_reproduces_every_dial_step_by_step()
    {
        using var original = new Harness(groups: [("backbone", 0.01, new Kiln.Modules.Opt.CosineSchedule(20, 2, 0.1)), ("head", 0.02, null)]);
        var script = new Dictionary<long, Action>
        {
            [2] = () => original.Run.Set("opt", """{"lr": 0.005, "weight_decay": 0.01}"""),
            [4] = () => original.Run.Send("cb", "load", "counter") ,
            [5] = () => original.Run.Send("""{"cid":"load1","module":"cb","op":"load","id":"counter","target":{"kind":"type","path":"Kiln.Testing.CountingCallback"},"init":{"every":3},"enabled":true}"""),
            [7] = () => original.Run.Set("opt", """{"groups": {"head": {"lr": 0.1, "betas": [0.8, 0.99]}}, "clip_norm": 1.5}"""),
            [8] = () => original.Run.Set("cb", """{"every": 7}""", id: "counter"),
            [10] = () => original.Run.Set("loss", """{"cls_w": 2, "ramps.recon": {"type": "linear", "end_step": 18, "start": 0, "end": 2}}"""),
            [12] = () => original.Run.Set("opt", """{"scheduler_drop": 0.5, "lr": 99}"""),
            [14] = () => original.Run.Set("loss", """{"terms.cls": false}"""),
            [15] = () => original.Run.Send("cb", "disable", "counter"),
            [16] = () => original.Run.Set("opt", """{"scheduler_scale": 0.25, "group": "backbone"}"""),
        };
        var expected = Trace(original, s => { if (script.TryGetValue(s, out var send)) send(); });

        var ledger = original.Run.Ledger();
        Assert.Contains(ledger, l => l.Decision == Decision.Rejected && l.Module == "cb");     // the load without a target
        Assert.Contains(ledger, l => l.Decision == Decision.Applied && l.Notes is not null && l.Notes.Contains("lr: 99 above max 10", StringComparison.Ordinal));
        var recipe = RecipeFile.Export(ledger);
        Assert.Equal(9, recipe.Count);
        var load = recipe.Single(r => r.Op == "load");
        Assert.Equal(new CallbackTarget("type", "Kiln.Testing.CountingCallback", null), load.Target);
        Assert.Equal("""{"every":3}""", load.Init!.ToJsonString());
        Assert.True(load.Enabled);
        Assert.Equal("""{"scheduler_drop":0.5}""", recipe.Single(r => r.Step == 12).Params!.ToJsonString());

        using var replay = new Harness(groups: [("backbone", 0.01, new Kiln.Modules.Opt.CosineSchedule(20, 2, 0.1)), ("head", 0.02, null)]);
        RecipeFile.Write(replay.Run.Files.RecipePath, recipe);
        Freeze(replay, FreezeState.Replay, FreezeState.Strict);
        var actual = Trace(replay, s => { if (s == 3) replay.Run.Set("opt", """{"lr": 0.9}"""); });

        Assert.Equal(expected, actual);
        Assert.Equal(9, replay.Run.Ledger().Count(l => l.Source == Sources.Replay && l.Decision == Decision.Applied));
    }

    // ---- adjust overlay ----

    private static RecipeEntry Entry(long step, string module, string op, string? id, string? parameters) => new()
    {
        Step = step, Event = "train_step_end", Module = module, Op = op, Id = id,
        Params = parameters is null ? null : (JsonObject)JsonNode.Parse(parameters)!,
    };

    private static AdjustSpec Spec(string yaml) => AdjustSpec.FromJson(YamlJson.Parse(yaml));

    [Fact]
    public void Nth_replaces_only_that_match()
    {
        var recipe = new[] { Entry(1, "opt", "set_params", "main", """{"lr":1}"""), Entry(2, "opt", "set_params", "main", """{"lr":2}"""), Entry(3, "opt", "set_params", "main", """{"lr":3}""") };
        var result = AdjustOverlay.Apply(recipe, Spec("patches: [{match: {module: opt, nth: 1}, replace_params: {lr: 20}}]"));
        Assert.Equal(["{\"lr\":1}", "{\"lr\":20}", "{\"lr\":3}"], result.Select(r => r.Params!.ToJsonString()));
    }

    [Fact]
    public void Transform_scales_then_adds_and_shift_moves_the_step()
    {
        var recipe = new[] { Entry(5, "loss", "set_params", "main", """{"distill_w":0.3,"name":"x"}""") };
        var result = AdjustOverlay.Apply(recipe, Spec("patches: [{match: {has_param: distill_w}, transform_params: {distill_w: {scale: 2, add: 1}, absent: {scale: 3}}, shift_step: 3}]"));
        var e = Assert.Single(result);
        Assert.Equal(8, e.Step);
        Assert.Equal(1.6, (double)e.Params!["distill_w"]!, 12);
        Assert.False(e.Params.ContainsKey("absent"));
    }

    [Fact]
    public void Drop_insert_and_step_ranges_compose_in_order_and_the_result_is_sorted()
    {
        var recipe = new[] { Entry(1, "opt", "set_params", "main", """{"lr":1}"""), Entry(5, "cb", "disable", "viz", null), Entry(9, "opt", "set_params", "main", """{"lr":3}""") };
        var notes = new List<string>();
        var result = AdjustOverlay.Apply(recipe, Spec("""
            patches:
              - match: {module: opt, step_min: 2, step_max: 10}
                drop: true
              - insert: {at: {step: 3, event: val_epoch_end}, module: loss, op: set_params, params: {cls_w: 2}}
              - match: {module: cb, id: nobody}
                drop: true
            """), notes);
        Assert.Equal([(1L, "opt"), (3L, "loss"), (5L, "cb")], result.Select(r => (r.Step, r.Module)));
        Assert.Equal(["patches[2] matched no recipe entry"], notes);
    }

    [Theory]
    [InlineData("patches: [{drop: true}]", "patches[0]: a patch needs a match")]
    [InlineData("patches: [{match: {modul: opt}}]", "patches[0].match: unknown key 'modul'")]
    [InlineData("patches: [{match: {nth: -1}}]", "patches[0].match.nth: must be >= 0")]
    [InlineData("patches: [{match: {op: x}, transform_params: {lr: {scale: big}}}]", "patches[0].transform_params.lr.scale: expected a number, got \"big\"")]
    [InlineData("version: 2", "version: only version 1 is known")]
    [InlineData("patches: {a: 1}", "patches: expected a list")]
    public void A_bad_adjust_file_is_an_error_naming_the_patch_and_key(string yaml, string error)
    {
        var ex = Assert.Throws<ProtocolException>(() => Spec(yaml));
        Assert.Contains(error, ex.Message);
    }

    [Fact]
    public void Validate_lists_every_bad_line_and_a_torn_tail()
    {
        using var dir = new Kiln.Testing.TempDir();
        var path = dir.File("r.jsonl");
        File.WriteAllText(path, """
            {"at":{"step":1,"event":"e"},"module":"opt","op":"set_params","params":{"lr":1}}
            {"at":{"step":-1,"event":"e"},"module":"opt","op":"set_params"}
            {"at":{"step":2,"event":"e"},"module":"core","op":"freeze"}
            not json
            {"at":{"step":3
            """.Replace("\r", "", StringComparison.Ordinal).TrimEnd('\n'));
        var problems = RecipeFile.Validate(path);
        Assert.Equal(4, problems.Count);
        Assert.Contains("line 2: at.step: must be >= 0", problems[0]);
        Assert.Contains("line 3: module: \"core\" op \"freeze\" cannot be replayed", problems[1]);
        Assert.Contains("line 4: line: invalid JSON", problems[2]);
        Assert.Contains("the last line has no newline", problems[3]);
    }

    [Fact]
    public void The_patch_template_has_one_stub_per_module_op_and_id_and_parses_back()
    {
        var recipe = new[] { Entry(1, "opt", "set_params", "main", """{"lr":1}"""), Entry(2, "opt", "set_params", "main", """{"lr":2}"""), Entry(3, "cb", "disable", "viz", null) };
        var yaml = PatchTemplate.Generate(recipe, "kiln.recipe.jsonl");
        Assert.StartsWith("# Generated from kiln.recipe.jsonl", yaml);
        var spec = Spec(yaml);
        Assert.Equal(2, spec.Patches.Count);
        Assert.Equal(("opt", "set_params", "main"), (spec.Patches[0].Match!.Module, spec.Patches[0].Match!.Op, spec.Patches[0].Match!.Id));
        Assert.Contains("# transform_params: {lr: {scale: 1.0, add: 0.0}}", yaml);
        Assert.Equal(recipe.Length, AdjustOverlay.Apply(recipe, spec).Count);
    }
}
