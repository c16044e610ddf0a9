using System.Runtime.CompilerServices;
using System.Runtime.Loader;
using System.Text;
using Kiln.Kernel;
using Kiln.Modules;
using Kiln.Modules.Callbacks;
using Kiln.Protocol;
using Kiln.Scripting.Compilation;
using Kiln.Scripting.Standalone;
using Kiln.Testing;
using static Kiln.Scripting.Tests.ScriptRuns;

namespace Kiln.Scripting.Tests;

/// <summary>Callbacks with seed 001's shape and no IKilnCallback, from source files, assemblies and the standalone controller.</summary>
[Collection("scripts")]
public sealed class StructuralSourceTests
{
    public static TheoryData<string, string, string, bool> Shapes => new()
    {
        { "EnvBeat", "KernelEnv", "JsonObject", false },
        { "DictBeat", "IDictionary<string, object?>", "IDictionary<string, object?>", false },
        { "ReadOnlyBeat", "IReadOnlyDictionary<string, object?>", "IReadOnlyDictionary<string, object?>", true },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void A_source_of_the_callback_shape_loads_without_a_symbol_runs_takes_params_and_unloads(string name, string env, string parameters, bool idField)
    {
        using var h = NewHarness();
        var log = new List<string>();
        using var kernel = SourceKernel(h, log);
        Load(h, "s", Write(h, name + ".cs", Sources.Shaped(name, env, parameters, idField)), symbol: null, init: """{"every": 2}""");
        for (var s = 0; s < 4; s++) kernel.Apply(s, "train_step_end", h.Env);
        h.Run.Set("cb", """{"every": 3}""", id: "s");
        for (var s = 4; s < 7; s++) kernel.Apply(s, "train_step_end", h.Env);
        h.Run.Send("cb", "unload", "s");
        kernel.Apply(7, "train_step_end", h.Env);

        Assert.Equal(["[s] attached", "[s] train_step_end step=0", "[s] train_step_end step=2", "[s] train_step_end step=6"], log);
        Assert.True(File.Exists(Path.Combine(h.Dir, "closed-s.txt")));
        var lines = h.Run.Decisions();
        Assert.Equal(new[] { ("load", Decision.Applied), ("set_params", Decision.Applied), ("unload", Decision.Applied) }, lines.Select(l => (l.Op!, l.Decision)));
        Assert.NotNull(lines[0].Payload!["source_capture"]);
    }

    [Fact]
    public void Without_a_symbol_the_one_public_callback_is_chosen_and_none_or_several_are_explained()
    {
        using var h = NewHarness();
        using var kernel = SourceKernel(h);
        var beat = Sources.Shaped("EnvBeat", "KernelEnv", "JsonObject");
        Load(h, "one", Write(h, "WithHelper.cs", beat + "\npublic static class Helper { }\npublic sealed class Options { public int Every { get; set; } }\n"), null);
        Load(h, "two", Write(h, "Two.cs", beat + "\n" + Sources.Heartbeat.Replace("namespace User;", "", StringComparison.Ordinal)), null);
        Load(h, "none", Write(h, "NotQuite.cs", Sources.NotQuite), null);
        Load(h, "named", Write(h, "Named.cs", Sources.NotQuite), "NotQuite");
        kernel.Apply(0, "train_step_end", h.Env);

        var errors = h.Run.Decisions().ToDictionary(l => l.Id!, l => l.Error);
        Assert.Null(errors["one"]);
        Assert.IsType<StructuralCallback>(kernel.GetCallback("one"));
        Assert.Equal($"target.symbol: {h.Dir}/Two.cs has several callback types (User.EnvBeat, User.Heartbeat); name one with --symbol", errors["two"]);
        Assert.Equal($"target: {h.Dir}/NotQuite.cs has no public callback type: NotQuite has no SetParams(JsonObject parameters) method; {CallbackShape.Requirement}", errors["none"]);
        Assert.Equal($"target: NotQuite has no SetParams(JsonObject parameters) method; {CallbackShape.Requirement}", errors["named"]);
    }

    /// <summary>The load context of a loaded callback's type, held weakly; nothing of the callback stays on this frame.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference ContextOf(KilnKernel kernel, string id)
    {
        var target = Assert.IsType<StructuralCallback>(kernel.GetCallback(id)).Target;
        var context = AssemblyLoadContext.GetLoadContext(target.GetType().Assembly)!;
        Assert.True(context.IsCollectible);
        return new WeakReference(context);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Unloading_a_structural_callback_frees_its_load_context(string name, string env, string parameters, bool idField)
    {
        using var h = NewHarness();
        using var kernel = SourceKernel(h);
        Load(h, "gone", Write(h, name + ".cs", Sources.Shaped(name, env, parameters, idField)), name, """{"every": 1}""");
        for (var s = 0; s < 3; s++) kernel.Apply(s, "train_step_end", h.Env);
        h.Run.Set("cb", """{"every": 2}""", id: "gone");
        kernel.Apply(3, "train_step_end", h.Env);
        var context = ContextOf(kernel, "gone");
        h.Run.Send("cb", "unload", "gone");
        kernel.Apply(4, "train_step_end", h.Env);
        Assert.False(CollectUntilDead(context), "the structural callback's load context is still alive after unload");
        Assert.All(h.Run.Decisions(), l => Assert.Equal(Decision.Applied, l.Decision));
    }

    [Fact]
    public void A_structural_callback_loads_from_a_compiled_assembly_and_unloading_frees_it()
    {
        using var h = NewHarness();
        var log = new List<string>();
        using var kernel = SourceKernel(h, log);
        var compiled = ScriptCompiler.Compile(Encoding.UTF8.GetBytes(Sources.Shaped("DictBeat", "IDictionary<string, object?>", "IDictionary<string, object?>")), "DictBeat.cs");
        var dll = Path.Combine(h.Dir, "Beats.dll");
        File.WriteAllBytes(dll, compiled.Image);
        h.Run.Send($$$"""{"module":"cb","op":"load","id":"asm","target":{"kind":"assembly","path":"{{{dll}}}:User.DictBeat"},"init":{"every":2}}""");
        kernel.Apply(0, "train_step_end", h.Env);
        kernel.Apply(1, "train_step_end", h.Env);
        h.Run.Set("cb", """{"every": 1}""", id: "asm");
        kernel.Apply(3, "train_step_end", h.Env);
        var context = ContextOf(kernel, "asm");
        h.Run.Send("cb", "unload", "asm");
        kernel.Apply(4, "train_step_end", h.Env);

        Assert.Equal(["[asm] attached", "[asm] train_step_end step=0", "[asm] train_step_end step=3"], log);
        Assert.Equal(new[] { ("load", Decision.Applied), ("set_params", Decision.Applied), ("unload", Decision.Applied) }, h.Run.Decisions().Select(l => (l.Op!, l.Decision)));
        Assert.False(CollectUntilDead(context), "the assembly's load context is still alive after unload");
    }

    [Fact]
    public void The_standalone_controller_loads_and_adds_structural_callbacks()
    {
        using var dir = new TempDir("standalone-shape");
        File.WriteAllText(dir.File("DictBeat.cs"), Sources.Shaped("DictBeat", "IDictionary<string, object?>", "IDictionary<string, object?>"));
        File.WriteAllText(dir.File("callbacks.yaml"), "version: 1\nkernel: {poll_interval_ms: 0}\n");
        var log = new List<string>();
        var env = new KernelEnv { Log = log.Add };
        using (var controller = new CallbackController(dir.File("callbacks.yaml"), dir.File("callbacks.commands.jsonl")))
        {
            controller.Add(new CodeShaped());
            Kiln.IO.JsonlFile.Append(dir.File("callbacks.commands.jsonl"),
                """{"cid":"c1","module":"cb","op":"load","id":"beat","target":{"kind":"file","path":"DictBeat.cs"},"init":{"every":2}}"""u8.ToArray());
            controller.Handle(0, "train_step_end", env);
            controller.Handle(1, "train_step_end", env);
            Kiln.IO.JsonlFile.Append(dir.File("callbacks.commands.jsonl"), """{"cid":"c2","module":"cb","op":"set_params","id":"beat","params":{"every":1}}"""u8.ToArray());
            controller.Handle(3, "train_step_end", env);
            Assert.IsType<StructuralCallback>(controller.Get("beat"));
            Assert.True(controller.IsEnabled("code"));
        }
        Assert.Equal(["[beat] attached", "code:0", "[beat] train_step_end step=0", "code:1", "code:3", "[beat] train_step_end step=3"], log);
        var ledger = Kiln.Kernel.Ledger.ReadAll(dir.File(RunFiles.Ledger));
        Assert.Contains(ledger, l => l.Cid == "c1" && l.Decision == Decision.Applied);
        Assert.Contains(ledger, l => l.Cid == "c2" && l.Decision == Decision.Applied);
        Assert.Contains(ledger, l => l.Id == "code" && l.Op == "load" && l.Decision == Decision.Applied);
    }

    [Fact]
    public void Adding_an_object_without_the_shape_says_what_it_lacks()
    {
        using var dir = new TempDir("standalone-shape");
        using var controller = new CallbackController(dir.File("callbacks.yaml"), dir.File("callbacks.commands.jsonl"));
        var ex = Assert.Throws<ProtocolException>(() => controller.Add(new object()));
        Assert.Equal($"target: System.Object has no Id property or field, has no Handle(string evt, KernelEnv env) method and has no SetParams(JsonObject parameters) method; {CallbackShape.Requirement}", ex.Message);
    }
}

/// <summary>A structural callback created in code and handed to the standalone controller.</summary>
public sealed class CodeShaped
{
    public string Id => "code";
    public void SetParams(IDictionary<string, object?> p) { }
    public void Handle(string evt, IReadOnlyDictionary<string, object?> env) => ((Action<string>)env["log"]!)("code:" + env["step"]);
}
