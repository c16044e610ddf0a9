using Kiln.Train.Autograd;
using Kiln.Train.Nn;
using Kiln.Train.Sdk;
using Kiln.Train.Tensors;

namespace Kiln.Train.Tests;

/// <summary>The architecture fingerprint and summary of <c>KilnSdk.Model</c>: same tree, same name; any structural change, another.</summary>
public sealed class SdkFingerprintTests
{
    private static Sequential Mlp(long seed, int hidden = 16, float dropout = 0f)
    {
        var rng = Rng.For(seed, "model");
        return dropout > 0
            ? new Sequential(new Linear(4, hidden, rng), new ReLU(), new Dropout(dropout, rng), new Linear(hidden, 3, rng))
            : new Sequential(new Linear(4, hidden, rng), new ReLU(), new Linear(hidden, 3, rng));
    }

    /// <summary>A model with a parameter of its own and a nested child, as users write them.</summary>
    private sealed class Net : Module
    {
        public Net(Rng rng)
        {
            Scale = Parameter("scale", Tensor.FromArray([1f, 1f, 1f], 3));
            Trunk = Child("trunk", new Sequential(new Linear(4, 8, rng), new Tanh(), new Linear(8, 3, rng)));
        }

        public Tensor Scale { get; }
        public Sequential Trunk { get; }

        public override Tensor Forward(Tensor x) => Ops.Mul(Trunk.Forward(x), Scale);
    }

    private static string Fingerprint(Module m) => ArchitectureFingerprint.Of(m).Fingerprint;

    [Fact]
    public void Two_instances_with_different_weights_share_a_fingerprint()
    {
        var a = Mlp(seed: 1);
        var b = Mlp(seed: 2);
        Assert.NotEqual(a.StateDict()["0.weight"].ToArray(), b.StateDict()["0.weight"].ToArray());
        Assert.Equal(Fingerprint(a), Fingerprint(b));

        // Weights that moved (a training step) do not change it either.
        b.NamedParameters().First().Value.Span.Fill(0.5f);
        Assert.Equal(Fingerprint(a), Fingerprint(b));
    }

    [Fact]
    public void A_hyper_parameter_such_as_the_dropout_rate_does_not_change_it()
    {
        Assert.Equal(Fingerprint(Mlp(1, dropout: 0.1f)), Fingerprint(Mlp(1, dropout: 0.5f)));
    }

    [Fact]
    public void A_changed_hidden_size_an_extra_layer_or_reordered_layers_change_it()
    {
        var baseline = Fingerprint(Mlp(1));
        var rng = Rng.For(1, "model");
        var variants = new Dictionary<string, Module>
        {
            ["hidden 32"] = Mlp(1, hidden: 32),
            ["extra layer"] = new Sequential(new Linear(4, 16, rng), new ReLU(), new Linear(16, 16, rng), new Linear(16, 3, rng)),
            ["extra activation"] = new Sequential(new Linear(4, 16, rng), new ReLU(), new Linear(16, 3, rng), new ReLU()),
            ["other activation"] = new Sequential(new Linear(4, 16, rng), new GELU(), new Linear(16, 3, rng)),
            ["no bias"] = new Sequential(new Linear(4, 16, rng), new ReLU(), new Linear(16, 3, rng, bias: false)),
            ["dropout added"] = Mlp(1, dropout: 0.1f),
        };
        var seen = new HashSet<string> { baseline };
        foreach (var (name, model) in variants) Assert.True(seen.Add(Fingerprint(model)), $"{name} has the fingerprint of another model");

        // Swapping two layers of different types (same parameters) is another architecture.
        var reluTanh = new Sequential(new Linear(4, 4, rng), new ReLU(), new Tanh(), new Linear(4, 3, rng));
        var tanhRelu = new Sequential(new Linear(4, 4, rng), new Tanh(), new ReLU(), new Linear(4, 3, rng));
        Assert.NotEqual(Fingerprint(reluTanh), Fingerprint(tanhRelu));
    }

    [Fact]
    public void A_convolution_s_stride_or_padding_changes_it_though_no_shape_shows_them()
    {
        var rng = new Rng(1);
        Assert.NotEqual(Fingerprint(new Conv2d(1, 4, 3, rng)), Fingerprint(new Conv2d(1, 4, 3, rng, stride: 2)));
        Assert.NotEqual(Fingerprint(new Conv2d(1, 4, 3, rng)), Fingerprint(new Conv2d(1, 4, 3, rng, padding: 1)));
        Assert.Equal(Fingerprint(new Conv2d(1, 4, 3, rng)), Fingerprint(new Conv2d(1, 4, 3, new Rng(9))));
        // A pooling window has no parameters at all: only its attributes tell two apart.
        Assert.NotEqual(Fingerprint(new Sequential(new Conv2d(1, 4, 3, rng), new MaxPool2d(2))), Fingerprint(new Sequential(new Conv2d(1, 4, 3, rng), new MaxPool2d(3))));
        Assert.NotEqual(Fingerprint(new Sequential(new Conv2d(1, 4, 3, rng), new MaxPool2d(2))), Fingerprint(new Sequential(new Conv2d(1, 4, 3, rng), new MaxPool2d(2, stride: 1))));
    }

    [Fact]
    public void The_description_is_canonical_and_the_fingerprint_is_a_fixed_value()
    {
        var rng = new Rng(3);
        var model = new Sequential(new Linear(2, 3, rng), new ReLU());

        Assert.Equal(
            "kiln-architecture/1\n" +
            "6:module0:10:Sequential\n" +
            "6:module1:06:Linear\n" +
            "5:param6:weight3:3,2\n" +
            "5:param4:bias1:3\n" +
            "6:module1:14:ReLU\n",
            ArchitectureFingerprint.Describe(model));
        // Stable across runs, machines and versions (it is `sha256sum` of the text above): a change here breaks every
        // architecture already recorded.
        Assert.Equal("sha256:8b9a74d947ac35daad04b2027e8a7cdad329880bca74cd10483de4449f9ff335", Fingerprint(model));
    }

    [Fact]
    public void Parameters_belong_to_the_module_that_registered_them()
    {
        var info = ArchitectureFingerprint.Of(new Net(new Rng(1)));

        Assert.Equal(["", "trunk", "trunk.0", "trunk.1", "trunk.2"], info.Modules.Select(m => m.Path));
        Assert.Equal(["Net", "Sequential", "Linear", "Tanh", "Linear"], info.Modules.Select(m => m.Type));
        var root = info.Modules[0];
        Assert.Equal("scale", Assert.Single(root.Parameters).Name);
        Assert.Equal(["weight", "bias"], info.Modules[2].Parameters.Select(p => p.Name));
        Assert.Equal("trunk.0.weight", info.Modules[2].ParameterKey("weight"));
        Assert.Equal([8, 4], info.Modules[2].Parameters[0].Shape);
        Assert.Equal(3 + 8 * 4 + 8 + 3 * 8 + 3, info.ParameterCount);
    }

    [Fact]
    public void The_summary_lists_every_module_and_parameter_with_its_shape_and_the_total()
    {
        var model = new Net(new Rng(1));
        var info = ArchitectureFingerprint.Of(model, Tensor.Zeros(2, 4));
        var lines = info.Summary.Split('\n');

        foreach (var m in info.Modules)
        {
            Assert.Contains(lines, l => l.Contains(m.Type, StringComparison.Ordinal) && (m.Path.Length == 0 || l.TrimStart().StartsWith(m.Path, StringComparison.Ordinal)));
        }
        foreach (var (name, p) in model.NamedParameters())
        {
            var local = name[(name.LastIndexOf('.') + 1)..];
            var row = Tensor.ShapeText(p.Shape);
            Assert.Contains(lines, l => l.Contains(local, StringComparison.Ordinal) && l.Contains(row, StringComparison.Ordinal)
                                        && l.TrimEnd().EndsWith(p.Size.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));
        }
        Assert.Contains("total parameters: 70", info.Summary, StringComparison.Ordinal);
        Assert.Contains("input [2, 4] -> output [2, 3]", info.Summary, StringComparison.Ordinal);
        Assert.Contains(info.Fingerprint, info.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void A_dummy_input_records_the_output_shape_without_changing_the_fingerprint()
    {
        var model = Mlp(1);
        var plain = ArchitectureFingerprint.Of(model);
        var probed = ArchitectureFingerprint.Of(model, Tensor.Zeros(5, 4));

        Assert.Null(plain.OutputShape);
        Assert.Equal([5, 4], probed.InputShape);
        Assert.Equal([5, 3], probed.OutputShape);
        Assert.Equal(plain.Fingerprint, probed.Fingerprint);
        Assert.Null(Tape.Current);
    }

    [Fact]
    public void A_dummy_input_the_model_cannot_run_is_a_clear_error()
    {
        var ex = Assert.Throws<ArgumentException>(() => ArchitectureFingerprint.Of(Mlp(1), Tensor.Zeros(2, 5)));
        Assert.StartsWith("the model cannot run the dummy input [2, 5]: ", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_dummy_pass_leaves_training_mode_and_the_dropout_generator_as_they_were()
    {
        var dropoutRng = new Rng(5);
        var twin = new Rng(5);
        var lin = new Linear(4, 4, new Rng(1));
        var model = new Sequential(lin, new Dropout(0.5f, dropoutRng));
        lin.SetTraining(false); // a mixed state must come back as it was

        ArchitectureFingerprint.Of(model, Tensor.Zeros(3, 4));

        Assert.True(model.Training);
        Assert.False(lin.Training);
        Assert.True(model.Layers[1].Training);
        Assert.Equal(twin.NextUInt64(), dropoutRng.NextUInt64());
    }

    [Fact]
    public void The_model_json_has_the_documented_fields()
    {
        var info = ArchitectureFingerprint.Of(new Conv2d(1, 2, 3, new Rng(1), stride: 2), Tensor.Zeros(1, 1, 5, 5));
        var json = info.ToJson();

        Assert.Equal(["fingerprint", "summary", "modules", "parameters", "input_shape", "output_shape"], json.Select(p => p.Key));
        Assert.Equal(
            """[{"path":"","type":"Conv2d","attributes":{"stride":2,"padding":0},"params":[{"name":"weight","shape":[2,1,3,3]},{"name":"bias","shape":[2]}]}]""",
            json["modules"]!.ToJsonString());
        Assert.Equal(20, (long)json["parameters"]!);
        Assert.Equal("[1,2,2,2]", json["output_shape"]!.ToJsonString());
        Assert.Null(ArchitectureFingerprint.Of(new ReLU()).ToJson()["output_shape"]);
    }
}
