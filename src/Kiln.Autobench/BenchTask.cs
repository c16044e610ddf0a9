using Kiln.Train.Data;
using Kiln.Train.Nn;
using Kiln.Train.Tensors;

namespace Kiln.Autobench;

/// <summary>
/// One benchmark task: its data and model, the learning rate that suits Adam on it (the mis-set starts are 10× above
/// and below it), its step budget (full and <c>--quick</c>), how often it is evaluated, and the validation accuracy
/// whose first crossing is "steps to target".
/// </summary>
public sealed record BenchTask
{
    public required string Name { get; init; }

    /// <summary>Training and validation sets (the same for every seed: seeds vary the model and the batches), and the data's name (Fashion-MNIST or a synthetic stand-in).</summary>
    public required Func<(Dataset Train, Dataset Val, string Source)> Data { get; init; }

    public required Func<Dataset, Rng, Module> Model { get; init; }
    public required double GoodLr { get; init; }
    public required int BatchSize { get; init; }
    public required long Steps { get; init; }
    public required int EvalEvery { get; init; }
    public required double Target { get; init; }
}
