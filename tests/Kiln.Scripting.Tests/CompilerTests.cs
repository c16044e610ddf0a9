using System.Text;
using Kiln.Kernel;
using Kiln.Protocol;
using Kiln.Scripting.Compilation;
using Kiln.Scripting.Functions;
using Kiln.Scripting.Standalone;
using Kiln.Testing;
using Kiln.Runs;
using Kiln.Modules;

namespace Kiln.Scripting.Tests;

[Collection("scripts")]
public sealed class CompilerTests
{
    [Fact]
    public void Errors_name_file_line_column_and_code_for_every_error()
    {
        var ex = Assert.Throws<CompilationFailedException>(() => ScriptCompiler.Compile(Encoding.UTF8.GetBytes(Sources.Broken), "cb/Broken.cs"));
        Assert.Equal(["cb/Broken.cs(3,35): error CS1002: ; expected", "cb/Broken.cs(5,54): error CS0103: The name 'undefinedThing' does not exist in the current context"], ex.Errors);
    }

    [Fact]
    public void A_source_compiles_once_and_a_damaged_cache_entry_is_recompiled()
    {
        var source = Encoding.UTF8.GetBytes(Sources.Marker("cache-" + Guid.NewGuid().ToString("N")));
        var first = ScriptCompiler.Compile(source, "Marker.cs");
        Assert.False(first.FromCache);
        Assert.True(ScriptCompiler.Compile(source, "Marker.cs").FromCache);

        ScriptCompiler.ClearMemory();
        var fromDisk = ScriptCompiler.Compile(source, "Marker.cs");
        Assert.True(fromDisk.FromCache);
        Assert.Equal(first.Image, fromDisk.Image);

        ScriptCompiler.ClearMemory();
        var dll = Path.Combine(ScriptCompiler.CacheDirectory, first.Key + ".dll");
        var bytes = File.ReadAllBytes(dll);
        bytes[^10] ^= 0xFF;
        File.WriteAllBytes(dll, bytes);
        var recompiled = ScriptCompiler.Compile(source, "Marker.cs");
        Assert.False(recompiled.FromCache);
        Assert.Equal(first.Image, recompiled.Image);
    }

    [Fact]
    public void A_training_function_in_a_source_file_runs_under_the_launcher()
    {
        using var dir = new TempDir("trainfn");
        var file = dir.File("Train.cs");
        File.WriteAllText(file, """
            using Kiln.Runs;
            namespace Mine;
            public static class Trainer
            {
                public static void Train(TrainContext ctx)
                {
                    var w = 0.0;
                    for (long s = 0; s < ctx.MaxSteps && !ctx.Stop.IsCancellationRequested; s++)
                    {
                        w += 0.1 * (3.0 - w);
                        ctx.Record(s, "train", [("w", w)]);
                        ctx.Kernel.Apply(s, "train_step_end", ctx.Env);
                    }
                }
            }
            """);
        var fn = ScriptTrainFunctions.FromSource($"{file}:Mine.Trainer.Train");
        var result = RunLauncher.Run(new LaunchOptions { Function = fn, RunDir = dir.Sub("run"), MaxSteps = 50 });
        Assert.Equal(RunInfo.Completed, result.Status);
        Assert.Equal(3.0 * (1 - Math.Pow(0.9, 50)), result.LastMetrics["w"], 9);
        Assert.Equal("Train.cs:Mine.Trainer.Train", fn.Name);

        File.WriteAllText(file, "public static class Trainer { public static void Train(TrainContext ctx) { oops } }");
        var ex = Assert.Throws<ProtocolException>(() => ScriptTrainFunctions.FromSource($"{file}:Trainer.Train"));
        Assert.Contains("Train.cs(1,76): error", ex.Message);
        Assert.Contains("source file not found", Assert.Throws<ProtocolException>(() => ScriptTrainFunctions.FromSource($"{dir.File("None.cs")}:A.B")).Message);
    }

    [Fact]
    public void The_standalone_controller_reads_its_own_commands_and_config()
    {
        using var dir = new TempDir("standalone");
        File.WriteAllText(dir.File("Heartbeat.cs"), Sources.Heartbeat);
        File.WriteAllText(dir.File("callbacks.yaml"), """
            version: 1
            kernel: {poll_interval_ms: 0}
            callbacks:
              beat:
                target: {kind: file, path: Heartbeat.cs}
                init: {every: 2}
            """);
        var log = new List<string>();
        var env = new KernelEnv { Log = log.Add };
        using (var controller = new CallbackController(dir.File("callbacks.yaml"), dir.File("callbacks.commands.jsonl")))
        {
            controller.Handle(0, "train_step_end", env);
            controller.Handle(1, "train_step_end", env);
            Kiln.IO.JsonlFile.Append(dir.File("callbacks.commands.jsonl"), """{"cid":"c1","module":"cb","op":"set_params","id":"beat","params":{"every":1}}"""u8.ToArray());
            controller.Handle(3, "train_step_end", env);
            Assert.True(controller.IsEnabled("beat"));
        }
        Assert.Equal(["[beat] train_step_end step=0", "[beat] train_step_end step=3"], log);
        var ledger = Kiln.Kernel.Ledger.ReadAll(dir.File(RunFiles.Ledger));
        Assert.Contains(ledger, l => l.Cid == "c1" && l.Decision == Decision.Applied);
    }
}

/// <summary>The examples in the repository compile, and the training function trains.</summary>
[Collection("scripts")]
public sealed class ExampleTests
{
    private static string Root() => Kiln.Testing.Repository.Root;

    [Fact]
    public void Every_example_compiles()
    {
        var files = Directory.GetFiles(Path.Combine(Root(), "examples"), "*.cs", SearchOption.AllDirectories);
        Assert.NotEmpty(files);
        foreach (var f in files) ScriptCompiler.Compile(File.ReadAllBytes(f), f);
    }

    [Fact]
    public void The_structural_heartbeat_example_loads_logs_and_takes_or_rejects_params()
    {
        using var h = ScriptRuns.NewHarness();
        var log = new List<string>();
        using var kernel = ScriptRuns.SourceKernel(h, log);
        ScriptRuns.Load(h, "hb", Path.Combine(Root(), "examples", "callbacks", "StructuralHeartbeat.cs"), symbol: null, init: """{"every": 2}""");
        for (var s = 0; s < 3; s++) kernel.Apply(s, "train_step_end", h.Env);
        h.Run.Set("cb", """{"every": 3}""", id: "hb");
        h.Run.Set("cb", """{"every": "four"}""", id: "hb");
        h.Run.Set("cb", """{"every": 0}""", id: "hb");
        for (var s = 3; s < 7; s++) kernel.Apply(s, "train_step_end", h.Env);

        Assert.Equal(["[hb] train_step_end step=0", "[hb] train_step_end step=2", "[hb] train_step_end step=3", "[hb] train_step_end step=6"], log);
        var lines = h.Run.Decisions();
        Assert.Equal(new[] { Decision.Applied, Decision.Applied, Decision.Rejected, Decision.Rejected }, lines.Select(l => l.Decision));
        Assert.Equal("params: ArgumentException: every: expected an integer >= 1, got four", lines[2].Error);
        Assert.Equal("params: ArgumentException: every: expected an integer >= 1, got 0", lines[3].Error);
        Assert.True(kernel.IsCallbackEnabled("hb"));
    }

    [Fact]
    public void The_example_training_function_fits_its_line()
    {
        using var dir = new TempDir("example");
        var fn = ScriptTrainFunctions.FromSource(Path.Combine(Root(), "examples", "train", "LinearRegression.cs") + ":Examples.LinearRegression.Train");
        var result = RunLauncher.Run(new LaunchOptions { Function = fn, RunDir = dir.Sub("run"), MaxSteps = 400 });
        Assert.Equal(RunInfo.Completed, result.Status);
        Assert.Equal(3.0, result.LastMetrics["w"], 1);
        Assert.Equal(1.0, result.LastMetrics["b"], 1);
    }
}
