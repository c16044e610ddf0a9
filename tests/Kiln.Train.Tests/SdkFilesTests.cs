using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Testing;
using Kiln.Train.Nn;
using Kiln.Train.Sdk;
using Kiln.Train.Serialization;
using Kiln.Train.Tensors;

namespace Kiln.Train.Tests;

/// <summary>What the SDK writes to a run directory in each mode, read back as a parent would.</summary>
public sealed class SdkFilesTests : IDisposable
{
    private readonly TempDir _dir = new("sdk");
    private readonly StringWriter _log = new();

    public void Dispose() => _dir.Dispose();

    private SdkSession Session(string? mode, string? queue = null, bool runDir = true) =>
        new(ChildEnvironment.From(new Dictionary<string, string?>
        {
            [ChildEnvironment.RunDirVariable] = runDir ? _dir.Path : null,
            [ChildEnvironment.ModeVariable] = mode,
            [ChildEnvironment.QueueVariable] = queue,
        }), _log);

    private JsonObject Read(string name) => (JsonObject)JsonNode.Parse(File.ReadAllText(_dir.File(name)))!;

    private static Sequential Mlp(long seed = 1)
    {
        var rng = Rng.For(seed, "model");
        return new Sequential(new Linear(4, 8, rng), new ReLU(), new Linear(8, 3, rng));
    }

    private static JsonObject Values(IReadOnlyDictionary<string, object?> values) => ParamValues.ToObject(values, "param");

    [Fact]
    public void The_environment_names_the_mode_and_the_run_directory()
    {
        var env = ChildEnvironment.From(new Dictionary<string, string?>
        {
            ["KILN_RUN_DIR"] = "runs/r1", ["KILN_MODE"] = "Trial", ["KILN_WORKSPACE"] = "/ws", ["KILN_PARENT_PID"] = "123", ["KILN_CHOICE_TIMEOUT"] = "2.5",
        });
        Assert.Equal(SdkMode.Trial, env.Mode);
        Assert.Equal(Path.GetFullPath("runs/r1"), env.RunDir);
        Assert.Equal("/ws", env.Workspace);
        Assert.Equal(123, env.ParentPid);
        Assert.Equal(TimeSpan.FromSeconds(2.5), env.ChoiceTimeout);
        Assert.Empty(env.Problems);

        Assert.Equal(SdkMode.None, ChildEnvironment.From(new Dictionary<string, string?> { ["KILN_MODE"] = "train" }).Mode);
        Assert.Equal(SdkMode.Train, ChildEnvironment.From(new Dictionary<string, string?> { ["KILN_RUN_DIR"] = "r" }).Mode);
        Assert.Equal(SdkMode.Queue, ChildEnvironment.From(new Dictionary<string, string?> { ["KILN_RUN_DIR"] = "r", ["KILN_MODE"] = "queue" }).Mode);
        Assert.Equal(SdkMode.Other, ChildEnvironment.From(new Dictionary<string, string?> { ["KILN_RUN_DIR"] = "r", ["KILN_MODE"] = "sweep" }).Mode);

        var bad = ChildEnvironment.From(new Dictionary<string, string?> { ["KILN_RUN_DIR"] = "r", ["KILN_PARENT_PID"] = "x", ["KILN_CHOICE_TIMEOUT"] = "-1" });
        Assert.Null(bad.ParentPid);
        Assert.Equal(ChildEnvironment.DefaultChoiceTimeout, bad.ChoiceTimeout);
        Assert.Equal(2, bad.Problems.Count);
    }

    [Fact]
    public void Without_a_run_directory_nothing_is_written_and_the_program_is_told_once()
    {
        var cwd = Directory.GetFiles(Directory.GetCurrentDirectory(), "kiln.*").Length;
        var sdk = Session("train", runDir: false);
        var model = Mlp();

        var info = sdk.Model(model, Tensor.Zeros(1, 4));
        sdk.Param(Values(new Dictionary<string, object?> { ["lr"] = 0.1 }));
        var queue = sdk.Queue();
        var steps = sdk.Queue("steps", 7);
        sdk.TrialResult(Values(new Dictionary<string, object?> { ["accuracy"] = 0.9 }));
        sdk.SaveWeights();
        sdk.End();

        Assert.Equal(SdkMode.None, sdk.Mode);
        Assert.Null(sdk.RunDir);
        Assert.StartsWith("sha256:", info.Fingerprint, StringComparison.Ordinal);
        Assert.Empty(queue);
        Assert.Equal(7, steps);
        Assert.Empty(Directory.GetFileSystemEntries(_dir.Path));
        Assert.Equal(cwd, Directory.GetFiles(Directory.GetCurrentDirectory(), "kiln.*").Length);
        var lines = _log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("kiln: KILN_RUN_DIR is not set, so Model and the other Kiln SDK calls record nothing (run the program with kiln train, kiln trial or kiln queue run to record it)",
            Assert.Single(lines));
    }

    [Fact]
    public void Model_writes_the_architecture_for_the_parent()
    {
        var sdk = Session("train");
        var info = sdk.Model(Mlp(), Tensor.Zeros(2, 4));

        var json = Read(RunFiles.Model);
        Assert.Equal(info.Fingerprint, (string?)json["fingerprint"]);
        Assert.Equal(info.Summary, (string?)json["summary"]);
        Assert.Equal(67, (long)json["parameters"]!);
        Assert.Equal("[2,3]", json["output_shape"]!.ToJsonString());
        Assert.Equal(["", "0", "1", "2"], json["modules"]!.AsArray().Select(m => (string)m!["path"]!));
        Assert.False(File.Exists(_dir.File(RunFiles.Weights)), "weights are saved at the end, not when the model is registered");
    }

    [Fact]
    public void Param_merges_its_calls_into_one_object()
    {
        var sdk = Session("train");
        sdk.Param(Values(new Dictionary<string, object?> { ["lr"] = 1e-3, ["batch_size"] = 64, ["name"] = "mlp" }));
        sdk.Param(Values(new Dictionary<string, object?>
        {
            ["lr"] = 3e-4, ["nesterov"] = true, ["schedule"] = null, ["layers"] = new[] { 16, 8 },
            ["opt"] = new Dictionary<string, object?> { ["beta"] = new List<double> { 0.9, 0.999 }, ["kind"] = SdkMode.Queue },
            ["ratio"] = 0.5f, ["big"] = 12345678901L, ["letter"] = 'x', ["price"] = 1.25m,
        }));
        sdk.Param(ParamValues.ToObject((JsonObject)JsonNode.Parse("""{"extra": {"a": [1, "two", null]}}""")!, "param"));

        Assert.Equal(
            """{"lr":0.0003,"batch_size":64,"name":"mlp","nesterov":true,"schedule":null,"layers":[16,8],"opt":{"beta":[0.9,0.999],"kind":"Queue"},"ratio":0.5,"big":12345678901,"letter":"x","price":1.25,"extra":{"a":[1,"two",null]}}""",
            Read(RunFiles.Params).ToJsonString());
    }

    [Fact]
    public void Param_merges_into_a_file_the_parent_wrote_first()
    {
        File.WriteAllText(_dir.File(RunFiles.Params), """{"dataset": "blobs"}""");
        Session("train").Param(Values(new Dictionary<string, object?> { ["lr"] = 0.1 }));
        Assert.Equal("""{"dataset":"blobs","lr":0.1}""", Read(RunFiles.Params).ToJsonString());
    }

    [Theory]
    [InlineData(double.NaN, "param 'lr': NaN is not a number JSON can hold; give a finite number")]
    [InlineData(double.PositiveInfinity, "param 'lr': Infinity is not a number JSON can hold; give a finite number")]
    [InlineData(double.NegativeInfinity, "param 'lr': -Infinity is not a number JSON can hold; give a finite number")]
    public void Param_rejects_numbers_json_cannot_hold(double value, string message)
    {
        var ex = Assert.Throws<ArgumentException>(() => KilnSdk.Param(new Dictionary<string, object?> { ["lr"] = value }));
        Assert.Equal(message, ex.Message);
        Assert.Throws<ArgumentException>(() => KilnSdk.Param(new Dictionary<string, object?> { ["lr"] = (float)value }));
        Assert.Throws<ArgumentException>(() => KilnSdk.Param(new JsonObject { ["lr"] = JsonValue.Create(value) }));
    }

    [Fact]
    public void Param_names_the_key_of_a_bad_value_however_deep_it_is()
    {
        var nested = Assert.Throws<ArgumentException>(() => Values(new Dictionary<string, object?>
        {
            ["opt"] = new Dictionary<string, object?> { ["betas"] = new[] { 0.9, double.NaN } },
        }));
        Assert.Equal("param 'opt'.betas[1]: NaN is not a number JSON can hold; give a finite number", nested.Message);

        var type = Assert.Throws<ArgumentException>(() => Values(new Dictionary<string, object?> { ["model"] = Tensor.Zeros(2) }));
        Assert.Equal("param 'model': a Tensor is not a JSON value; give numbers, strings, booleans, null, arrays or dictionaries of them", type.Message);

        var key = Assert.Throws<ArgumentException>(() => Values(new Dictionary<string, object?> { ["m"] = new Dictionary<int, int> { [1] = 2 } }));
        Assert.Contains("keys must be strings", key.Message, StringComparison.Ordinal);

        Assert.Throws<ArgumentException>(() => Values(new Dictionary<string, object?> { [""] = 1 }));
        Assert.False(File.Exists(_dir.File(RunFiles.Params)));
    }

    [Fact]
    public void Queue_reads_the_injected_values_and_records_them_at_once()
    {
        var sdk = Session("queue", """{"lr": 0.05, "steps": 20, "name": "q1", "amp": true, "seed": 3}""");

        var queue = sdk.Queue();
        Assert.Equal("""{"lr":0.05,"steps":20,"name":"q1","amp":true,"seed":3}""", queue.ToJsonString());
        Assert.Equal(queue.ToJsonString(), Read(RunFiles.Params).ToJsonString());

        Assert.Equal(0.05, sdk.Queue("lr", 0.1));
        Assert.Equal(0.05f, sdk.Queue("lr", 0.1f));
        Assert.Equal(20, sdk.Queue("steps", 1));
        Assert.Equal(3L, sdk.Queue("seed", 0L));
        Assert.Equal("q1", sdk.Queue("name", "x"));
        Assert.True(sdk.Queue("amp", false));
        Assert.Equal(64, sdk.Queue("batch_size", 64));
        Assert.Equal(20, sdk.Queue<int?>("steps", null));

        var wrong = Assert.Throws<KilnSdkException>(() => sdk.Queue("name", 1));
        Assert.Equal("KILN_QUEUE 'name': expected an integer, got \"q1\" (read as Int32)", wrong.Message);
        Assert.Throws<KilnSdkException>(() => sdk.Queue("lr", 1));

        queue["lr"] = 9; // a copy: the program cannot change what was injected
        Assert.Equal(0.05, sdk.Queue("lr", 0.1));
    }

    [Fact]
    public void In_a_queue_run_the_injected_values_win_and_a_different_value_is_warned_about()
    {
        var sdk = Session("queue", """{"lr": 0.05, "steps": 20}""");
        sdk.Param(Values(new Dictionary<string, object?> { ["lr"] = 0.1, ["steps"] = 20.0, ["batch_size"] = 32 }));

        Assert.Equal("""{"lr":0.05,"steps":20,"batch_size":32}""", Read(RunFiles.Params).ToJsonString());
        var log = _log.ToString();
        Assert.Contains("kiln: param 'lr' = 0.1 differs from the queued value 0.05; the queued value is recorded", log, StringComparison.Ordinal);
        Assert.DoesNotContain("'steps'", log, StringComparison.Ordinal);
    }

    [Fact]
    public void Outside_a_queue_run_the_queue_is_empty_and_a_bad_queue_is_a_clear_error()
    {
        var train = Session("train", """{"lr": 0.05}""");
        Assert.Empty(train.Queue());
        Assert.Equal(0.1, train.Queue("lr", 0.1));
        Assert.False(File.Exists(_dir.File(RunFiles.Params)));

        var ex = Assert.Throws<KilnSdkException>(() => Session("queue", "[1, 2]").Queue());
        Assert.Equal("KILN_QUEUE: expected a JSON object of hyper-parameters, got [1,2]", ex.Message);
        Assert.StartsWith("KILN_QUEUE: invalid JSON", Assert.Throws<KilnSdkException>(() => Session("queue", "{lr:").Queue()).Message, StringComparison.Ordinal);
        Assert.Empty(Session("queue", null).Queue());
    }

    [Fact]
    public void TrialResult_writes_the_result_in_a_trial()
    {
        var sdk = Session("trial");
        sdk.TrialResult(ParamValues.ToObject(new Dictionary<string, object?> { ["accuracy"] = 0.75, ["loss"] = 0.5 }, "result"));
        sdk.TrialResult(ParamValues.ToObject(new Dictionary<string, object?> { ["samples"] = 128 }, "result"));

        Assert.Equal("""{"accuracy":0.75,"loss":0.5,"samples":128}""", Read(RunFiles.TrialResult).ToJsonString());
        Assert.Equal("result 'accuracy': NaN is not a number JSON can hold; give a finite number",
            Assert.Throws<ArgumentException>(() => KilnSdk.TrialResult(new Dictionary<string, object?> { ["accuracy"] = double.NaN })).Message);
    }

    [Fact]
    public void TrialResult_outside_a_trial_and_Param_in_a_trial_record_nothing_and_say_so()
    {
        var train = Session("train");
        train.TrialResult(ParamValues.ToObject(new Dictionary<string, object?> { ["accuracy"] = 0.75 }, "result"));
        train.TrialResult(ParamValues.ToObject(new Dictionary<string, object?> { ["accuracy"] = 0.8 }, "result"));
        Assert.False(File.Exists(_dir.File(RunFiles.TrialResult)));
        Assert.Single(_log.ToString().Split('\n'), l => l.Contains("TrialResult records nothing: this is not a trial (KILN_MODE=train)", StringComparison.Ordinal));

        Session("trial").Param(Values(new Dictionary<string, object?> { ["lr"] = 0.1 }));
        Assert.False(File.Exists(_dir.File(RunFiles.Params)));
        Assert.Contains("Param records nothing in a trial", _log.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void SaveWeights_writes_the_state_dict_with_the_fingerprint()
    {
        var sdk = Session("train");
        var model = Mlp(seed: 4);
        var info = sdk.Model(model);
        sdk.SaveWeights();

        var (tensors, metadata) = Safetensors.Load(_dir.File(RunFiles.Weights));
        Assert.Equal(info.Fingerprint, metadata["fingerprint"]);
        foreach (var (name, p) in model.NamedParameters()) Assert.Equal(p.ToArray(), tensors[name].ToArray());

        // Saved again later, the file holds the newer weights; no temporary file is left beside it.
        model.NamedParameters().First().Value.Span.Fill(2f);
        sdk.End();
        Assert.All(Safetensors.Load(_dir.File(RunFiles.Weights)).Tensors["0.weight"].ToArray(), v => Assert.Equal(2f, v));
        Assert.Equal([RunFiles.Model, RunFiles.Weights], Directory.GetFiles(_dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_run_of_another_kind_records_the_architecture_and_parameters_but_saves_no_weights()
    {
        var sdk = Session("sweep");
        Assert.Equal(SdkMode.Other, sdk.Mode);
        sdk.Model(Mlp());
        sdk.Param(Values(new Dictionary<string, object?> { ["lr"] = 0.1 }));
        sdk.SaveWeights();

        Assert.True(File.Exists(_dir.File(RunFiles.Model)));
        Assert.True(File.Exists(_dir.File(RunFiles.Params)));
        Assert.False(File.Exists(_dir.File(RunFiles.Weights)));
        Assert.Contains("SaveWeights saves nothing", _log.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Values_compare_as_people_read_them()
    {
        Assert.True(ParamValues.Same(JsonValue.Create(64), JsonNode.Parse("64.0")));
        Assert.True(ParamValues.Same(JsonNode.Parse("""{"a":[1,2]}"""), JsonNode.Parse("""{"a":[1.0,2]}""")));
        Assert.False(ParamValues.Same(JsonNode.Parse("""{"a":[1,2]}"""), JsonNode.Parse("""{"a":[2,1]}""")));
        Assert.False(ParamValues.Same(JsonValue.Create("1"), JsonValue.Create(1)));
        Assert.True(ParamValues.Same(null, null));
    }
}
