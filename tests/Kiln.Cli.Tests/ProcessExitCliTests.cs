using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Cli.Tests;

/// <summary>
/// A callback loaded with <c>kiln cb load --file</c> that takes the whole <c>kiln launch</c> process down: the run's
/// status never goes on saying <c>running</c>.
/// </summary>
public sealed class ProcessExitCliTests
{
    private const string Killer = """
        public sealed class Killer(string id, string how) : IKilnCallback
        {
            public string Id { get; } = id;
            public void SetParams(JsonObject p) { }
            public void Handle(string evt, KernelEnv env)
            {
                if (how == "exit") Environment.Exit(3);
                Deeper(0);
            }
            private static int Deeper(int depth) => Deeper(depth + 1) + 1;
        }
        """;

    private static async Task<int> LaunchAndLoad(TempDir dir, string run, string how)
    {
        File.WriteAllText(dir.File("Killer.cs"), Killer);
        using var process = KilnProcess.Start(dir.Path, new Dictionary<string, string> { ["DOTNET_DbgEnableMiniDump"] = "0" },
            "launch", "--no-serve", "--plain", "--config", "simple", "--max-steps", "100000000", "--step-delay", "0.005",
            "--run-dir", run, "--data-dir", dir.Sub("empty"));
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await Wait.UntilAsync(() => File.Exists(Path.Combine(run, RunFiles.Metrics)), "the run to train");
        var load = KilnProcess.Run(dir.Path, "--dir", run, "cb", "load", "killer", "--file", "Killer.cs", "--enabled", "--init", $"how={how}");
        Assert.True(load.ExitCode == 0, load.ToString());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        await Task.WhenAll(stdout, stderr);
        return process.ExitCode;
    }

    private static string RawStatus(string run) => (string)JsonNode.Parse(File.ReadAllText(Path.Combine(run, RunFiles.Run)))!["status"]!;

    [Fact]
    public async Task A_callback_calling_Environment_Exit_ends_the_launch_with_its_code_and_the_run_failed_saying_so()
    {
        using var dir = new TempDir("exit");
        var run = Path.Combine(dir.Path, "run");
        Assert.Equal(3, await LaunchAndLoad(dir, run, "exit"));
        var record = JsonNode.Parse(File.ReadAllText(Path.Combine(run, RunFiles.Run)))!;
        Assert.Equal("failed", (string)record["status"]!);
        Assert.Equal("the process exited (code 3) while the run was running", (string)record["error"]!);
        var status = KilnProcess.Run(dir.Path, "--dir", run, "status");
        Assert.Contains("failed", status.Stdout);
    }

    [Fact]
    public async Task A_callback_that_overflows_the_stack_leaves_a_run_that_reads_interrupted()
    {
        using var dir = new TempDir("overflow");
        var run = Path.Combine(dir.Path, "run");
        Assert.NotEqual(0, await LaunchAndLoad(dir, run, "overflow"));
        // Nothing can run after a stack overflow: the file still says running, and readers see its process gone.
        Assert.Equal("running", RawStatus(run));
        var status = KilnProcess.Run(dir.Path, "--dir", run, "status");
        Assert.Contains("interrupted", status.Stdout);
    }
}
