using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Testing;
using Kiln.Modules;

namespace Kiln.Cli.Tests;

/// <summary>Seed 001's scenario with real processes: a callback written while the run trains, loaded from the command line.</summary>
public sealed class HotLoadCliTests
{
    private const string Probe = """
        namespace Probes;

        public sealed class StepProbe(string id, int every = 1, string tag = "") : IKilnCallback
        {
            public string Id { get; } = id;
            public int Every { get; private set; } = every;

            public void SetParams(JsonObject p)
            {
                if (p["every"] is { } e) Every = (int)e;
            }

            public void Handle(string evt, KernelEnv env)
            {
                if (evt == "train_step_end" && env.Step % Every == 0)
                    File.AppendAllText(Path.Combine(env.RunDir!, "probe.txt"), $"{tag}:{env.Step}\n");
            }
        }
        """;

    [Fact]
    public async Task A_callback_written_during_a_run_is_compiled_and_attached_at_the_next_safe_point()
    {
        using var dir = new TempDir("hotload");
        var run = Path.Combine(dir.Path, "run");
        using var trainer = KilnProcess.Start(dir.Path, null, "launch", "--no-serve", "--config", "simple", "--max-steps", "1000000", "--step-delay", "0.004",
            "--run-dir", run, "--data-dir", dir.Sub("empty"));
        var output = trainer.StandardOutput.ReadToEndAsync();
        await Wait.UntilAsync(() => File.Exists(Path.Combine(run, RunFiles.Metrics)), "the run to start");

        Directory.CreateDirectory(Path.Combine(dir.Path, "callbacks"));
        File.WriteAllText(Path.Combine(dir.Path, "callbacks", "StepProbe.cs"), Probe);
        var load = KilnProcess.Run(dir.Path, "--dir", "run", "cb", "load", "probe", "--file", "callbacks/StepProbe.cs",
            "--symbol", "StepProbe", "--enabled", "--init", "every=5", "tag=hot");
        Assert.True(load.ExitCode == 0, load.ToString());
        await Wait.UntilAsync(() => File.Exists(Path.Combine(run, "probe.txt")), "the callback to run");

        using (var stop = System.Diagnostics.Process.Start("kill", ["-INT", trainer.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await stop.WaitForExitAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await trainer.WaitForExitAsync(timeout.Token);
        Assert.Equal(130, trainer.ExitCode);

        var lines = File.ReadAllLines(Path.Combine(run, "probe.txt"));
        Assert.All(lines, l => Assert.Matches(@"^hot:\d*[05]$", l));
        var ledger = Kiln.Kernel.Ledger.ReadAll(Path.Combine(run, RunFiles.Ledger));
        var loaded = Assert.Single(ledger, l => l.Op == "load");
        Assert.Equal((Decision.Applied, "cli"), (loaded.Decision, loaded.Source));
        var capture = loaded.Payload!["source_capture"]!;
        Assert.Equal(Probe, File.ReadAllText(Path.Combine(run, (string)capture["captured_path"]!)));
        Assert.Contains("run stopped after", await output);
    }

    [Fact]
    public void Launch_runs_a_training_function_from_a_source_file_and_reports_compile_errors()
    {
        using var dir = new TempDir("trainfn");
        File.WriteAllText(Path.Combine(dir.Path, "Train.cs"), """
            using Kiln.Runs;
            public static class MyRun
            {
                public static void Train(TrainContext ctx)
                {
                    for (long s = 0; s < ctx.MaxSteps; s++)
                    {
                        ctx.Record(s, "train", [("train_loss", 1.0 / (s + 1))]);
                        ctx.Kernel.Apply(s, "train_step_end", ctx.Env);
                    }
                }
            }
            """);
        var ok = KilnProcess.Run(dir.Path, "launch", "--no-serve", "--train-fn", "Train.cs:MyRun.Train", "--max-steps", "4", "--run-dir", "run");
        Assert.True(ok.ExitCode == 0, ok.ToString());
        Assert.Contains("train_loss=0.25", ok.Stdout);
        var info = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.Path, "run", RunFiles.Run)))!;
        Assert.Equal("Train.cs:MyRun.Train", (string?)info["config"]);

        File.WriteAllText(Path.Combine(dir.Path, "Bad.cs"), "public static class MyRun { public static void Train() { int x = \"no\"; } }");
        var bad = KilnProcess.Run(dir.Path, "launch", "--no-serve", "--train-fn", "Bad.cs:MyRun.Train", "--max-steps", "4");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("Bad.cs(1,66): error CS0029: Cannot implicitly convert type 'string' to 'int'", bad.Stderr);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "runs")));
    }
}
