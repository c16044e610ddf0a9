using Kiln.Protocol;
using Kiln.Runs;
using Kiln.Train.Runs.BuiltIn;

namespace Kiln.Train.Runs;

/// <summary>The built-in runs of <c>kiln launch --config</c> and <c>kiln demo</c>.</summary>
public static class BuiltInRuns
{
    public static readonly IReadOnlyDictionary<string, TrainFunction> All = new Dictionary<string, TrainFunction>(StringComparer.Ordinal)
    {
        ["simple"] = new("simple", SimpleRun.DefaultSteps, SimpleRun.Train, null),
        ["multitask"] = new("multitask", MultitaskRun.DefaultSteps, MultitaskRun.Train, null),
        ["finetune"] = new("finetune", FinetuneRun.DefaultSteps, FinetuneRun.Train, null),
    };

    /// <summary>Resolves a built-in config name.</summary>
    public static TrainFunction Get(string name) =>
        All.TryGetValue(name, out var f) ? f
        : throw new ProtocolException($"--config: unknown config \"{name}\" (known: {string.Join(", ", All.Keys)})");
}
