using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Kiln.Kernel;
using Kiln.Modules.Callbacks;
using Kiln.Protocol;
using Kiln.Replay;
using Kiln.Scripting.Loading;
using Kiln.Testing;
using static Kiln.Scripting.Tests.ScriptRuns;

namespace Kiln.Scripting.Tests;

/// <summary>Callbacks written in C#, loaded into a running kernel from source files.</summary>
[Collection("scripts")]
public sealed class SourceCallbackTests
{
    [Fact]
    public void A_callback_written_in_csharp_loads_runs_takes_params_and_unloads()
    {
        using var h = NewHarness();
        var log = new List<string>();
        using var kernel = SourceKernel(h, log);
        var file = Write(h, "Heartbeat.cs", Sources.Heartbeat);
        Load(h, "hb", file, "Heartbeat", """{"every":2}""");
        for (var s = 0; s < 5; s++) kernel.Apply(s, "train_step_end", h.Env);
        Assert.Equal(["[hb] train_step_end step=0", "[hb] train_step_end step=2", "[hb] train_step_end step=4"], log);

        h.Run.Set("cb", """{"every": 3}""", id: "hb");
        h.Run.Send("cb", "disable", "hb");
        kernel.Apply(5, "train_step_end", h.Env);
        kernel.Apply(6, "train_step_end", h.Env);
        Assert.Equal(3, log.Count);
        h.Run.Send("cb", "enable", "hb");
        kernel.Apply(7, "train_step_end", h.Env);
        kernel.Apply(9, "train_step_end", h.Env);
        Assert.Equal("[hb] train_step_end step=9", log[^1]);
        h.Run.Send("cb", "unload", "hb");
        kernel.Apply(10, "train_step_end", h.Env);
        Assert.Null(kernel.GetCallback("hb"));

        var load = h.Run.Ledger().First(l => l.Op == "load");
        Assert.Equal(Decision.Applied, load.Decision);
        var capture = SourceCapture.FromJson(load.Payload!["source_capture"], "source_capture");
        Assert.Equal(Path.Combine("kiln.sources", capture.Sha256 + ".cs"), capture.CapturedPath);
        Assert.Equal(Sources.Heartbeat, File.ReadAllText(Path.Combine(h.Dir, capture.CapturedPath)));
        Assert.All(h.Run.Ledger(), l => Assert.NotEqual(Decision.Failed, l.Decision));
    }

    [Fact]
    public void The_only_callback_type_in_a_file_needs_no_symbol()
    {
        using var h = NewHarness();
        using var kernel = SourceKernel(h);
        Load(h, "hb", Write(h, "Heartbeat.cs", Sources.Heartbeat), null);
        kernel.Apply(0, "train_step_end", h.Env);
        Assert.NotNull(kernel.GetCallback("hb"));
    }

    [Theory]
    [InlineData("broken", "Broken.cs(3,35): error CS1002: ; expected")]
    [InlineData("missing-type", "target.symbol: no type Nope in")]
    [InlineData("throwing-ctor", "ArgumentException: every must be prime, got 4")]
    [InlineData("missing-file", "target.path: source file not found:")]
    [InlineData("bad-init", "init.every: expected int, got \"four\"")]
    public void A_failed_load_is_ledgered_with_its_cause_and_training_goes_on(string kind, string error)
    {
        using var h = NewHarness();
        using var kernel = SourceKernel(h);
        switch (kind)
        {
            case "broken": Load(h, "x", Write(h, "Broken.cs", Sources.Broken), "Broken"); break;
            case "missing-type": Load(h, "x", Write(h, "Heartbeat.cs", Sources.Heartbeat), "Nope"); break;
            case "throwing-ctor": Load(h, "x", Write(h, "Picky.cs", Sources.ThrowingConstructor), "Picky", """{"every":4}"""); break;
            case "missing-file": Load(h, "x", Path.Combine(h.Dir, "Gone.cs"), "Gone"); break;
            case "bad-init": Load(h, "x", Write(h, "Heartbeat.cs", Sources.Heartbeat), "Heartbeat", """{"every":"four"}"""); break;
        }
        h.Run.Set("opt", """{"lr": 0.02}""");
        kernel.Apply(0, "train_step_end", h.Env);
        kernel.Apply(1, "train_step_end", h.Env);
        var failed = Assert.Single(h.Run.Ledger(), l => l.Op == "load");
        Assert.Equal(Decision.Failed, failed.Decision);
        Assert.Contains(error, failed.Error);
        Assert.Null(kernel.GetCallback("x"));
        Assert.Equal(0.02, h.Lr());
    }

    [Theory]
    [InlineData("Flaky")]
    [InlineData("ShapedFlaky")]
    public void A_callback_that_throws_is_disabled_with_its_stack_and_comes_back_when_enabled(string name)
    {
        using var h = NewHarness();
        using var kernel = SourceKernel(h);
        Load(h, "flaky", Write(h, name + ".cs", name == "Flaky" ? Sources.Throwing : Sources.ShapedThrowing), name);
        kernel.Apply(0, "train_step_end", h.Env);
        kernel.Apply(1, "train_step_end", h.Env);
        Assert.False(kernel.IsCallbackEnabled("flaky"));
        var failure = Assert.Single(h.Run.Ledger(), l => l.Op == "handle");
        Assert.Equal("handle(train_step_end) threw InvalidOperationException: flaky at step 0", failure.Error);
        Assert.StartsWith("System.InvalidOperationException: flaky at step 0", failure.Traceback);
        Assert.Contains($"{name}.cs:line 8", failure.Traceback);
        Assert.DoesNotContain("TargetInvocationException", failure.Traceback);

        var callback = kernel.GetCallback("flaky")!;
        var type = (callback is StructuralCallback shaped ? shaped.Target : callback).GetType();
        type.GetField("Fail")!.SetValue(null, false);
        h.Run.Send("cb", "enable", "flaky");
        kernel.Apply(2, "train_step_end", h.Env);
        kernel.Apply(3, "train_step_end", h.Env);
        Assert.True(kernel.IsCallbackEnabled("flaky"));
        Assert.Single(h.Run.Ledger(), l => l.Op == "handle");
    }

    [Fact]
    public void Replay_loads_the_captured_source_after_the_original_is_changed_and_deleted()
    {
        using var original = NewHarness();
        var file = Write(original, "Marker.cs", Sources.Marker("v1"));
        using (var kernel = SourceKernel(original))
        {
            kernel.Apply(0, "train_step_end", original.Env);
            Load(original, "m", file, "Marker");
            for (var s = 1; s < 4; s++) kernel.Apply(s, "train_step_end", original.Env);
            kernel.End();
        }
        Assert.Equal("v1@1\nv1@2\nv1@3\n", File.ReadAllText(Path.Combine(original.Dir, "marker.txt")));
        var recipe = RecipeFile.Export(original.Run.Ledger());
        var load = Assert.Single(recipe);
        Assert.NotNull(load.SourceCapture);
        File.WriteAllText(file, Sources.Marker("v2"));

        // The replaying run gets the recipe and the captured sources; the original file then disappears.
        using var replay = NewHarness();
        RecipeFile.Write(replay.Run.Files.RecipePath, recipe);
        Directory.CreateDirectory(Path.Combine(replay.Dir, RunFiles.SourcesDir));
        foreach (var f in Directory.GetFiles(Path.Combine(original.Dir, RunFiles.SourcesDir)))
            File.Copy(f, Path.Combine(replay.Dir, RunFiles.SourcesDir, Path.GetFileName(f)));
        File.Delete(file);
        new Kiln.Control.RunControl(replay.Dir).SetFreeze(new FreezeState { Mode = FreezeState.Replay, RecipePath = RunFiles.Recipe, Policy = FreezeState.Strict }, create: true);
        using (var kernel = SourceKernel(replay))
        {
            for (var s = 0; s < 4; s++) kernel.Apply(s, "train_step_end", replay.Env);
            kernel.End();
        }
        Assert.Equal("v1@1\nv1@2\nv1@3\n", File.ReadAllText(Path.Combine(replay.Dir, "marker.txt")));
    }

    [Fact]
    public void A_tampered_capture_is_refused_by_replay()
    {
        using var original = NewHarness();
        var file = Write(original, "Marker.cs", Sources.Marker("v1"));
        using (var kernel = SourceKernel(original))
        {
            Load(original, "m", file, "Marker");
            kernel.Apply(1, "train_step_end", original.Env);
        }
        var load = RecipeFile.Export(original.Run.Ledger()).Single();
        File.AppendAllText(Path.Combine(original.Dir, load.SourceCapture!.CapturedPath), "// edited");
        using var kernel2 = SourceKernel(original);
        original.Kernel.Dispose();
        var command = load.ToCommand("replay:test");
        var loader = new SourceCallbackLoader();
        var ex = Assert.Throws<ProtocolException>(() => loader.Load(new Kiln.Modules.Callbacks.CallbackLoadRequest("m", command.Target!, null, load.SourceCapture, original.Run.Files)));
        Assert.Contains("was modified", ex.Message);
    }

    [Fact]
    public void Callbacks_declared_in_kiln_yaml_load_from_source()
    {
        using var h = NewHarness();
        var log = new List<string>();
        Write(h, "Heartbeat.cs", Sources.Heartbeat);
        h.Run.WriteConfig("""
            version: 1
            callbacks:
              beat:
                target: {kind: file, path: Heartbeat.cs, symbol: Heartbeat}
                init: {every: 1}
            """);
        using var kernel = SourceKernel(h, log);
        kernel.Apply(0, "train_step_end", h.Env);
        Assert.Equal(["[beat] train_step_end step=0"], log);
        var load = Assert.Single(h.Run.Ledger(), l => l.Op == "load");
        Assert.Equal((Kiln.Protocol.Sources.Yaml, KilnKernel.StartEvent), (load.Source, load.Event));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void LoadAndUnload(KilnKernel kernel, Harness h, string file, int cycle)
    {
        Load(h, "cycle", file, "Heartbeat");
        kernel.Apply(cycle * 2, "train_step_end", h.Env);
        h.Run.Send("cb", "unload", "cycle");
        kernel.Apply(cycle * 2 + 1, "train_step_end", h.Env);
    }

    [Fact]
    public void Unloading_frees_the_assembly_and_two_hundred_cycles_do_not_grow_memory()
    {
        using var h = NewHarness();
        using var kernel = SourceKernel(h);
        var file = Write(h, "Heartbeat.cs", Sources.Heartbeat);
        LoadAndUnload(kernel, h, file, 0);
        Assert.Equal(0, CollectUntilGone("kiln-callback:cycle:"));

        GC.Collect();
        var before = GC.GetTotalMemory(forceFullCollection: true);
        for (var cycle = 1; cycle <= 200; cycle++) LoadAndUnload(kernel, h, file, cycle);
        Assert.Equal(0, CollectUntilGone("kiln-callback:cycle:"));
        var growth = GC.GetTotalMemory(forceFullCollection: true) - before;
        Assert.True(growth < 16 << 20, $"managed memory grew by {growth / 1024} KiB over 200 load/unload cycles");
        Assert.Equal(201, h.Run.Ledger().Count(l => l.Op == "unload" && l.Decision == Decision.Applied));
    }
}

[CollectionDefinition("scripts", DisableParallelization = true)]
public sealed class ScriptsCollection;
