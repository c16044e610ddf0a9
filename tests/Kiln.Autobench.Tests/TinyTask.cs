using Kiln.Train.Data;
using Kiln.Train.Nn;

namespace Kiln.Autobench.Tests;

/// <summary>A task of a few dozen steps on 300 synthetic points: real training in well under a second.</summary>
internal static class TinyTask
{
    public static BenchTask Create() => new()
    {
        Name = "tiny",
        Data = () =>
        {
            var all = Synthetic.Blobs(300, 3, [8], seed: 0, spread: 1f);
            return (all.Subset([.. Enumerable.Range(0, 240)], "train"), all.Subset([.. Enumerable.Range(240, 60)], "val"), "synthetic");
        },
        Model = (data, rng) => new Sequential(new Linear(data.FeatureSize, 8, rng), new ReLU(), new Linear(8, data.Classes, rng)),
        GoodLr = 1e-2,
        BatchSize = 16,
        Steps = 40,
        EvalEvery = 2,
        Target = 0.5,
    };
}
