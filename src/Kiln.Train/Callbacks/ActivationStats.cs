using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Kernel;
using Kiln.Modules.Callbacks;
using Kiln.Protocol;
using Kiln.Train.Autograd;
using Kiln.Train.Nn;
using Kiln.Train.Tensors;
using Kiln.Modules;

namespace Kiln.Callbacks;

/// <summary>
/// Per-layer activation statistics for feature visualisation: every <c>every</c> steps it runs the model (in
/// evaluation mode, without gradients) on the current batch (<c>env.Items["batch_x"]</c>) and appends, for each layer
/// output, one line to <c>kiln.features.jsonl</c>: <c>{step, layer, type, shape, mean, std, min, max, zero_frac, hist}</c>.
/// <c>layer</c> keeps only layers whose name contains it.
/// </summary>
public sealed class ActivationStats(string id, int every = 200, int bins = 20, string? layer = null) : IKilnCallback
{
    public const string FileName = "kiln.features.jsonl";

    public string Id { get; } = id;
    public int Every { get; private set; } = CallbackParams.Every(every);
    public int Bins { get; private set; } = CheckBins(bins);
    public string? Layer { get; private set; } = layer;

    private static int CheckBins(int bins) => bins is >= 1 and <= 1000 ? bins : throw new ProtocolException($"bins: must be in [1, 1000], got {bins}");

    public void Handle(string evt, KernelEnv env)
    {
        if (evt != "train_step_end" || env.Step % Every != 0 || env.Model is not Module model || env.RunDir is null) return;
        if (!env.Items.TryGetValue("batch_x", out var input) || input is not Tensor x) return;
        var names = new Dictionary<Module, string>(ReferenceEqualityComparer.Instance);
        foreach (var (name, module) in model.NamedModules()) names[module] = name;
        var lines = new List<byte[]>();
        var wasTraining = model.Training;
        model.SetTraining(false);
        Sequential.Observer = (module, output) =>
        {
            var name = names.TryGetValue(module, out var n) ? n : module.GetType().Name;
            if (Layer is null || name.Contains(Layer, StringComparison.Ordinal))
                lines.Add(System.Text.Encoding.UTF8.GetBytes(Describe(env.Step, name, module, output).ToJsonString()));
        };
        try
        {
            using var tape = new Tape(recordGradients: false);
            model.Forward(x);
        }
        finally
        {
            Sequential.Observer = null;
            model.SetTraining(wasTraining);
        }
        if (lines.Count > 0) JsonlFile.Append(Path.Combine(env.RunDir, FileName), lines);
    }

    private JsonObject Describe(long step, string name, Module module, Tensor t)
    {
        var v = t.Span;
        var min = TensorPrimitives.Min(v);
        var max = TensorPrimitives.Max(v);
        var mean = TensorPrimitives.Sum(v) / (double)v.Length;
        var variance = TensorPrimitives.SumOfSquares(v) / (double)v.Length - mean * mean;
        var zeros = 0;
        var counts = new int[Bins];
        var width = (max - min) / Bins;
        foreach (var a in v)
        {
            if (a == 0f) zeros++;
            var b = width > 0 ? (int)((a - min) / width) : 0;
            counts[Math.Clamp(b, 0, Bins - 1)]++;
        }
        return new JsonObject
        {
            ["step"] = step,
            ["layer"] = name,
            ["type"] = module.GetType().Name,
            ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode?)d).ToArray()),
            ["mean"] = mean,
            ["std"] = Math.Sqrt(Math.Max(0, variance)),
            ["min"] = min,
            ["max"] = max,
            ["zero_frac"] = (double)zeros / v.Length,
            ["hist"] = new JsonObject { ["min"] = min, ["max"] = max, ["counts"] = new JsonArray(counts.Select(c => (JsonNode?)c).ToArray()) },
        };
    }

    public void SetParams(JsonObject parameters)
    {
        JsonValues.RejectUnknownKeys(parameters, ["every", "bins", "layer"], "");
        if (parameters["every"] is { } e) Every = CallbackParams.Every((int)JsonValues.GetLong(e, "every"));
        if (parameters["bins"] is { } b) Bins = CheckBins((int)JsonValues.GetLong(b, "bins"));
        if (parameters.ContainsKey("layer")) Layer = parameters["layer"] is { } l ? JsonValues.GetString(l, "layer") : null;
    }
}
