using Kiln.Train.Data;

namespace Kiln.Train.Runs;

/// <summary>Fashion-MNIST when it is installed, else synthetic 28×28 blobs — said on the console, never silently.</summary>
public static class DataSource
{
    public static (Dataset Train, Dataset Test) Images(TrainContext ctx)
    {
        if (FashionMnist.TryLoad(ctx.DataDir, out var train, out var test, out var reason))
        {
            ctx.Params["dataset"] = "fashion-mnist";
            return (train!, test!);
        }
        ctx.Log($"Fashion-MNIST not found ({reason}); training on synthetic Gaussian blobs instead (install Debian's dataset-fashion-mnist, or pass --data-dir)");
        ctx.Params["dataset"] = "synthetic";
        // One draw split in two, so both halves share the class prototypes.
        var all = Synthetic.Blobs(14000, 10, [1, 28, 28], ctx.Seed, name: "blobs");
        return (all.Subset(Enumerable.Range(0, 12000).ToArray(), "blobs-train"),
                all.Subset(Enumerable.Range(12000, 2000).ToArray(), "blobs-test"));
    }
}
