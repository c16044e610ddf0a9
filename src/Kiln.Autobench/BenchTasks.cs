using Kiln.Train.Data;
using Kiln.Train.Nn;
using Kiln.Train.Tensors;

namespace Kiln.Autobench;

/// <summary>The tasks of <c>kiln bench run</c> (synthetic, seconds each) and <c>kiln bench eval</c> (Fashion-MNIST).</summary>
public static class BenchTasks
{
    /// <summary>
    /// Gaussian blobs in 64 dimensions, 10 classes, spread so that they overlap (accuracy stays below 100 %), under a
    /// 64-64-10 MLP.
    /// </summary>
    public static BenchTask Blobs(bool quick) => new()
    {
        Name = "blobs-mlp",
        Data = () =>
        {
            var all = Synthetic.Blobs(3000, 10, [64], seed: 0, spread: 3f);
            return (all.Subset([.. Enumerable.Range(0, 2400)], "blobs-train"), all.Subset([.. Enumerable.Range(2400, 600)], "blobs-val"), "synthetic blobs");
        },
        Model = (data, rng) => new Sequential(new Linear(data.FeatureSize, 64, rng), new ReLU(), new Linear(64, data.Classes, rng)),
        GoodLr = 1e-3,
        BatchSize = 32,
        Steps = quick ? 600 : 1500,
        EvalEvery = 20,
        Target = 0.80,
    };

    /// <summary>
    /// The built-in <c>simple</c> run's MLP (784-256-128-10, batch 128, Adam at 1e-3) on Fashion-MNIST; validation on
    /// the test set's first 2,000 images under <c>--quick</c> (300 steps, target 80 %), all 10,000 otherwise. Without the dataset installed it
    /// trains on synthetic 28×28 blobs, as <c>simple</c> does, and the report says so.
    /// </summary>
    public static BenchTask FashionMlp(bool quick, string? dataDir) => new()
    {
        Name = "fashion-mlp",
        Data = () => FashionData(quick, dataDir),
        Model = (data, rng) => new Sequential(
            new Flatten(),
            new Linear(data.FeatureSize, 256, rng), new ReLU(),
            new Linear(256, 128, rng), new ReLU(),
            new Linear(128, data.Classes, rng)),
        GoodLr = 1e-3,
        BatchSize = 128,
        Steps = quick ? 300 : 2000,
        EvalEvery = quick ? 15 : 50,
        Target = quick ? 0.80 : 0.84,
    };

    /// <summary>
    /// The built-in trial CNN (conv3×3 16 → pool → conv3×3 32 → pool → fc 128 → fc 10, batch 128, Adam at 1e-3) on the
    /// same data and budget as <see cref="FashionMlp"/>.
    /// </summary>
    public static BenchTask FashionCnn(bool quick, string? dataDir) => new()
    {
        Name = "fashion-cnn",
        Data = () => FashionData(quick, dataDir),
        Model = (data, rng) =>
        {
            var side = data.SampleShape[^1] / 4;
            return new Sequential(
                new Conv2d(data.SampleShape[0], 16, 3, rng, padding: 1), new ReLU(), new MaxPool2d(2),
                new Conv2d(16, 32, 3, rng, padding: 1), new ReLU(), new MaxPool2d(2),
                new Flatten(), new Linear(32 * side * side, 128, rng), new ReLU(), new Linear(128, data.Classes, rng));
        },
        GoodLr = 1e-3,
        BatchSize = 128,
        Steps = quick ? 300 : 2000,
        EvalEvery = quick ? 15 : 50,
        Target = quick ? 0.80 : 0.86,
    };

    /// <summary>Fashion-MNIST's training set and its test set (the first 2,000 images under <c>--quick</c>), or synthetic 28×28 blobs when it is not installed.</summary>
    private static (Dataset Train, Dataset Val, string Source) FashionData(bool quick, string? dataDir)
    {
        if (FashionMnist.TryLoad(dataDir, out var train, out var test, out _))
            return (train!, quick ? test!.Subset([.. Enumerable.Range(0, 2000)], "test-2000") : test!, "fashion-mnist");
        var all = Synthetic.Blobs(14000, 10, [1, 28, 28], 0, name: "blobs");
        return (all.Subset([.. Enumerable.Range(0, 12000)], "blobs-train"), all.Subset([.. Enumerable.Range(12000, 2000)], "blobs-test"), "synthetic blobs (Fashion-MNIST not found)");
    }
}
