using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Runs;
using Kiln.Testing;

namespace Kiln.Core.Tests;

/// <summary>A process that ends while its run trains, in a real child process (see <see cref="Program"/>).</summary>
public sealed class ProcessExitTests
{
    private static string RawStatus(string dir) => (string)JsonNode.Parse(File.ReadAllText(Path.Combine(dir, RunFiles.Run)))!["status"]!;

    [Fact]
    public void A_callback_calling_Environment_Exit_leaves_a_failed_run_with_the_exit_code_and_its_metrics()
    {
        using var tmp = new TempDir("exit");
        var dir = tmp.Sub("run");
        Assert.Equal(3, Program.RunChild("exit", dir));
        var record = RunState.Read(dir)!;
        Assert.Equal(RunInfo.Failed, record.Status);
        Assert.Equal("the process exited (code 3) while the run was running", record.Error);
        Assert.Null(record.Heartbeat);
        // The lines logged before the exit were flushed.
        var steps = File.ReadAllLines(Path.Combine(dir, RunFiles.Metrics)).Select(l => (long)JsonNode.Parse(l)!["step"]!);
        Assert.Equal([0, 1, 2, 3, 4, 5], steps);
    }

    [Fact]
    public void An_unhandled_exception_on_another_thread_leaves_a_failed_run_naming_it()
    {
        using var tmp = new TempDir("crash");
        var dir = tmp.Sub("run");
        Assert.NotEqual(0, Program.RunChild("crash", dir));
        var record = RunState.Read(dir)!;
        Assert.Equal(RunInfo.Failed, record.Status);
        Assert.Equal("the process crashed while the run was running: InvalidOperationException: boom on a thread of the callback's own", record.Error);
    }

    [Fact]
    public void A_stack_overflow_kills_the_process_outright_and_readers_see_the_run_interrupted()
    {
        using var tmp = new TempDir("overflow");
        var dir = tmp.Sub("run");
        Assert.NotEqual(0, Program.RunChild("overflow", dir));
        // Nothing could be said: the record still says running, but its process and lock are gone.
        Assert.Equal(RunInfo.Running, RawStatus(dir));
        Assert.Equal(RunInfo.Interrupted, RunState.Read(dir)!.Status);
    }
}
