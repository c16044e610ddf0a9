using System.Diagnostics;
using Kiln.Protocol;
using Kiln.Testing;
using Kiln.Train.Nn;
using Kiln.Train.Sdk;
using Kiln.Train.Serialization;
using Kiln.Train.Tensors;

namespace Kiln.Train.Tests;

/// <summary>A trial's <c>Model</c>: it waits for the parent's <c>kiln.choice.json</c> and loads the chosen weights, or fails clearly.</summary>
public sealed class SdkTrialTests : IDisposable
{
    private readonly TempDir _dir = new("sdk-trial");
    private readonly StringWriter _log = new();
    private readonly List<int> _exits = [];

    public void Dispose() => _dir.Dispose();

    private string RunDir => _dir.Sub("trial");

    private SdkSession Trial(string? parentPid = null, string? timeout = "30") =>
        new(ChildEnvironment.From(new Dictionary<string, string?>
        {
            [ChildEnvironment.RunDirVariable] = RunDir,
            [ChildEnvironment.ModeVariable] = "trial",
            [ChildEnvironment.ParentPidVariable] = parentPid,
            [ChildEnvironment.ChoiceTimeoutVariable] = timeout,
        }), _log, exit: _exits.Add);

    private static Sequential Mlp(long seed, int hidden = 8)
    {
        var rng = Rng.For(seed, "model");
        return new Sequential(new Linear(4, hidden, rng), new ReLU(), new Linear(hidden, 3, rng));
    }

    /// <summary>Weights as a training run leaves them.</summary>
    private string TrainedWeights(Module model)
    {
        var path = _dir.File("trained.safetensors");
        Safetensors.Save(path, model.StateDict(), new Dictionary<string, string> { ["fingerprint"] = ArchitectureFingerprint.Of(model).Fingerprint });
        return path;
    }

    private void Choose(string json) => Kiln.IO.AtomicFile.WriteAllText(Path.Combine(RunDir, RunFiles.Choice), json);

    private static string Quoted(string path) => System.Text.Json.JsonSerializer.Serialize(path);

    [Fact]
    public void The_chosen_weights_are_loaded_into_the_model()
    {
        var trained = Mlp(seed: 1);
        Choose($$"""{"weights": {{Quoted(TrainedWeights(trained))}}, "id": "run-1"}""");
        var model = Mlp(seed: 2);

        var info = Trial().Model(model, Tensor.Zeros(1, 4));

        foreach (var ((name, expected), (_, actual)) in trained.NamedParameters().Zip(model.NamedParameters()))
            Assert.True(expected.ToArray().SequenceEqual(actual.ToArray()), $"{name} was not loaded");
        Assert.True(File.Exists(Path.Combine(RunDir, RunFiles.Model)));
        Assert.Equal(info.Fingerprint, (string?)System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(RunDir, RunFiles.Model)))!["fingerprint"]);
        Assert.Contains("kiln: loaded the weights (run run-1) from ", _log.ToString(), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(RunDir, RunFiles.Weights)), "a trial saves no weights");
        Assert.Empty(_exits);
    }

    [Fact]
    public async Task Model_waits_for_a_parent_that_chooses_after_seeing_the_architecture()
    {
        var trained = Mlp(seed: 1);
        var weights = TrainedWeights(trained);
        var modelFile = Path.Combine(RunDir, RunFiles.Model);
        var parent = Task.Run(async () =>
        {
            await Wait.UntilAsync(() => File.Exists(modelFile), "the child's kiln.model.json", seconds: 30, pollMilliseconds: 10);
            await Task.Delay(100);
            // A relative path is relative to the run directory.
            Choose($$"""{"weights": {{Quoted(Path.GetRelativePath(RunDir, weights))}}}""");
        });

        var model = Mlp(seed: 2);
        Trial().Model(model);
        await parent;

        Assert.Equal(trained.StateDict()["2.bias"].ToArray(), model.StateDict()["2.bias"].ToArray());
    }

    [Fact]
    public void An_error_choice_prints_the_parent_s_message_and_exits_with_code_1()
    {
        Choose("""{"error": "no model was trained with this architecture"}""");

        var ex = Assert.Throws<KilnSdkException>(() => Trial().Model(Mlp(1)));

        Assert.Equal([1], _exits);
        Assert.Equal("no model was trained with this architecture", ex.Message);
        Assert.Contains("kiln: no model was trained with this architecture\nkiln: no weights to load; shutting down", _log.ToString().ReplaceLineEndings("\n"), StringComparison.Ordinal);
    }

    [Fact]
    public void A_parent_that_is_gone_is_a_clear_failure_not_a_long_wait()
    {
        int pid;
        using (var gone = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!)
        {
            gone.WaitForExit();
            pid = gone.Id;
        }
        var clock = Stopwatch.StartNew();

        var ex = Assert.Throws<KilnSdkException>(() => Trial(parentPid: pid.ToString(System.Globalization.CultureInfo.InvariantCulture)).Model(Mlp(1)));

        Assert.Equal($"the parent process (pid {pid}, KILN_PARENT_PID) is gone, so no weights will be chosen for this trial ({Path.Combine(RunDir, RunFiles.Choice)} was never written)", ex.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        Assert.True(File.Exists(Path.Combine(RunDir, RunFiles.Model)), "the architecture is written before the wait");
    }

    [Fact]
    public void A_parent_that_never_chooses_times_out_with_a_message_that_says_how_to_wait_longer()
    {
        var ex = Assert.Throws<KilnSdkException>(() => Trial(parentPid: Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), timeout: "0.2").Model(Mlp(1)));

        Assert.StartsWith("no choice of weights arrived in ", ex.Message, StringComparison.Ordinal);
        Assert.Contains("within 0.2 s (set KILN_CHOICE_TIMEOUT to wait longer", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Weights_that_do_not_fit_the_model_are_refused_with_the_reason()
    {
        Choose($$"""{"weights": {{Quoted(TrainedWeights(Mlp(1, hidden: 16)))}}, "id": "wide"}""");

        var ex = Assert.Throws<KilnSdkException>(() => Trial().Model(Mlp(2)));

        Assert.Contains("(run wide) do not fit this model: state dict: 0.weight has shape [16, 4], the model needs [8, 4]", ex.Message, StringComparison.Ordinal);
        Assert.Contains("were trained with architecture sha256:", _log.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"weights": 3}""", "kiln.choice.json: weights: expected a string, got 3")]
    [InlineData("""{"id": "r"}""", "kiln.choice.json: holds neither \"weights\" (the file to load) nor \"error\" (why there is none)")]
    [InlineData("""[1]""", "kiln.choice.json: expected a JSON object, got [1]")]
    [InlineData("""{"weights": """, "kiln.choice.json: invalid JSON")]
    public void A_malformed_choice_is_a_clear_error(string json, string message)
    {
        Choose(json);
        var ex = Assert.Throws<KilnSdkException>(() => Trial().Model(Mlp(1)));
        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_weights_are_named()
    {
        Choose("""{"weights": "/nowhere/w.safetensors", "id": "r9"}""");
        var ex = Assert.Throws<KilnSdkException>(() => Trial().Model(Mlp(1)));
        Assert.Equal("the chosen weights /nowhere/w.safetensors (run r9) do not exist", ex.Message);
    }
}
