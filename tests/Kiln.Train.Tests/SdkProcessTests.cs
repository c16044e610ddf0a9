using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Runs;
using Kiln.Testing;
using Kiln.Train.Sdk;
using Kiln.Train.Serialization;

namespace Kiln.Train.Tests;

/// <summary>
/// The sample training program (samples/numb-workflow) run as a real child process, as <c>kiln train</c>,
/// <c>kiln queue run</c> and <c>kiln trial</c> run it: what it leaves behind when it ends, is killed, or is refused.
/// </summary>
public sealed class SdkProcessTests : IDisposable
{
    private static readonly string Sample = typeof(SdkProcessTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "NumbWorkflowSample").Value!;

    private readonly TempDir _dir = new("sdk-child");

    public void Dispose() => _dir.Dispose();

    private sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
    }

    private static Process Start(string runDir, string mode, string? queue = null)
    {
        Assert.True(File.Exists(Sample), $"the sample is not built at {Sample}");
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Sample);
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("KILN_", StringComparison.Ordinal)).ToList()) info.Environment.Remove(key);
        info.Environment[ChildEnvironment.RunDirVariable] = runDir;
        info.Environment[ChildEnvironment.ModeVariable] = mode;
        info.Environment[ChildEnvironment.ChoiceTimeoutVariable] = "60";
        if (queue is not null) info.Environment[ChildEnvironment.QueueVariable] = queue;
        return Process.Start(info)!;
    }

    private static async Task<Result> RunAsync(string runDir, string mode, string? queue = null)
    {
        using var p = Start(runDir, mode, queue);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await p.WaitForExitAsync(timeout.Token);
        return new Result(p.ExitCode, await stdout, await stderr);
    }

    private static JsonObject Read(string dir, string name) => (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(dir, name)))!;

    private static double Accuracy(string stdout)
    {
        var line = stdout.Split('\n').Single(l => l.StartsWith("test_accuracy=", StringComparison.Ordinal));
        return double.Parse(line["test_accuracy=".Length..line.IndexOf(' ', StringComparison.Ordinal)], CultureInfo.InvariantCulture);
    }

    private static void AssertNoTemporaryFiles(string dir) =>
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));

    [Fact]
    public async Task A_training_that_ends_normally_leaves_its_weights_architecture_and_parameters()
    {
        var run = _dir.Sub("train");
        var result = await RunAsync(run, "train");

        Assert.True(result.ExitCode == 0, result.ToString());
        var model = Read(run, RunFiles.Model);
        var (tensors, metadata) = Safetensors.Load(Path.Combine(run, RunFiles.Weights));
        Assert.Equal((string?)model["fingerprint"], metadata["fingerprint"]);
        Assert.Equal(["0.bias", "0.weight", "2.bias", "2.weight"], tensors.Keys.Order(StringComparer.Ordinal));
        Assert.Equal([32, 8], tensors["0.weight"].Shape);
        Assert.Equal("""{"lr":0.01,"steps":150,"batch_size":32,"seed":7,"optimizer":"adam"}""", Read(run, RunFiles.Params).ToJsonString());
        Assert.Contains((string)model["summary"]!, result.Stdout, StringComparison.Ordinal);
        AssertNoTemporaryFiles(run);
    }

    [Fact]
    public async Task A_queue_run_records_the_injected_values_and_saves_its_weights()
    {
        var run = _dir.Sub("queue");
        var result = await RunAsync(run, "queue", """{"lr": 0.02, "steps": 10, "batch_size": 16}""");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("""{"lr":0.02,"steps":10,"batch_size":16,"seed":7,"optimizer":"adam"}""", Read(run, RunFiles.Params).ToJsonString());
        Assert.True(File.Exists(Path.Combine(run, RunFiles.Weights)));
        Assert.DoesNotContain("differs from the queued value", result.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Processes.SigKill)]
    [InlineData(Processes.SigTerm)]
    public async Task A_training_killed_mid_way_leaves_no_weights(int signal)
    {
        var run = _dir.Sub("killed");
        using var p = Start(run, "queue", """{"steps": 100000000}""");
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEndAsync();
        // Once its architecture is written the model is registered for saving, and the training follows.
        await Wait.UntilAsync(() => File.Exists(Path.Combine(run, RunFiles.Model)) || p.HasExited, "the child to register its model");
        Assert.False(p.HasExited, "the child ended before it could be killed");
        await Task.Delay(200);

        Assert.True(Processes.Signal(p.Id, signal));
        await p.WaitForExitAsync();

        Assert.Equal(Processes.ExitCodeFor(signal), p.ExitCode);
        Assert.True(File.Exists(Path.Combine(run, RunFiles.Model)));
        Assert.False(File.Exists(Path.Combine(run, RunFiles.Weights)), await stderr + await stdout);
        AssertNoTemporaryFiles(run);
    }

    [Fact]
    public async Task A_trial_waiting_for_its_choice_of_weights_stops_on_SIGTERM()
    {
        var trial = _dir.Sub("waiting");
        using var p = Start(trial, "trial");
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEndAsync();
        // The architecture is written before the wait for the parent's choice (never written here) begins.
        await Wait.UntilAsync(() => File.Exists(Path.Combine(trial, RunFiles.Model)) || p.HasExited, "the trial to report its architecture");
        Assert.False(p.HasExited, "the trial ended before it waited");
        Assert.True(Processes.Signal(p.Id, Processes.SigTerm));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await p.WaitForExitAsync(timeout.Token);
        Assert.True(p.ExitCode != 0, await stderr + await stdout);
        Assert.DoesNotContain("test_accuracy", await stdout, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(trial, RunFiles.TrialResult)));
    }

    [Fact]
    public async Task A_trial_evaluates_the_weights_its_parent_chose()
    {
        var trained = _dir.Sub("train");
        var training = await RunAsync(trained, "train");
        Assert.True(training.ExitCode == 0, training.ToString());

        var trial = _dir.Sub("trial");
        Kiln.IO.AtomicFile.WriteJson(Path.Combine(trial, RunFiles.Choice),
            new JsonObject { ["weights"] = Path.Combine(trained, RunFiles.Weights), ["id"] = "train-1" });
        var result = await RunAsync(trial, "trial");

        Assert.True(result.ExitCode == 0, result.ToString());
        var report = Read(trial, RunFiles.TrialResult);
        // The same weights on the same held-out data: exactly the accuracy the training measured.
        Assert.Equal(Accuracy(training.Stdout), (double)report["accuracy"]!);
        Assert.Equal(128, (int)report["samples"]!);
        Assert.Equal((string?)Read(trained, RunFiles.Model)["fingerprint"], (string?)Read(trial, RunFiles.Model)["fingerprint"]);
        Assert.Contains("kiln: loaded the weights (run train-1)", result.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(trial, RunFiles.Weights)));
        Assert.False(File.Exists(Path.Combine(trial, RunFiles.Params)));
    }

    [Fact]
    public async Task A_trial_the_parent_refuses_prints_why_and_exits_with_code_1()
    {
        var trial = _dir.Sub("refused");
        Kiln.IO.AtomicFile.WriteJson(Path.Combine(trial, RunFiles.Choice), new JsonObject { ["error"] = "no model was trained with this architecture" });

        var result = await RunAsync(trial, "trial");

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("kiln: no model was trained with this architecture", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("shutting down", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("test_accuracy", result.Stdout, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(trial, RunFiles.TrialResult)));
    }

    [Fact]
    public async Task Run_by_hand_it_trains_records_nothing_and_says_so_once()
    {
        var cwd = _dir.Sub("by-hand");
        using var p = new Process
        {
            StartInfo = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = cwd },
        };
        p.StartInfo.ArgumentList.Add(Sample);
        foreach (var key in p.StartInfo.Environment.Keys.Where(k => k.StartsWith("KILN_", StringComparison.Ordinal)).ToList()) p.StartInfo.Environment.Remove(key);
        p.Start();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();

        Assert.Equal(0, p.ExitCode);
        Assert.Contains("test_accuracy=", await stdout, StringComparison.Ordinal);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.Contains("KILN_RUN_DIR is not set", StringComparison.Ordinal));
        Assert.Empty(Directory.GetFileSystemEntries(cwd));
    }
}
