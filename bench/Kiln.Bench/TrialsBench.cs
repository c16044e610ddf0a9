using System.Diagnostics;
using Kiln.Trials.Expansion;

namespace Kiln.Bench;

/// <summary>Expanding a 10,000-trial tree (target ≤ 2 s): the first expansion writes every trial, the second finds nothing changed.</summary>
internal static class TrialsBench
{
    public static void Expand()
    {
        var root = Path.Combine(Path.GetTempPath(), "kiln-bench-trials-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            Write(Path.Combine(root, "cfg", "cfg.yaml"), "seed: 0\nepochs: 2\nbatch_size: 128\nbatch_metrics: [param_norm]\n");
            Write(Path.Combine(root, "cfg", "sweep", "fashion_mnist", "mlp", "cfg.yaml"), "model: {type: mlp, hidden: [256, 128]}\n");
            // 10 × 10 × 10 × 10 = 10,000 trials in one leaf.
            Write(Path.Combine(root, "cfg", "sweep", "fashion_mnist", "mlp", "adam", "cfg.yaml"),
                "lr: [1.0e-4, 2.0e-4, 3.0e-4, 5.0e-4, 7.0e-4, 1.0e-3, 2.0e-3, 3.0e-3, 5.0e-3, 7.0e-3]\n" +
                "weight_decay: [0, 1.0e-5, 3.0e-5, 1.0e-4, 3.0e-4, 1.0e-3, 3.0e-3, 0.01, 0.03, 0.1]\n" +
                "batch_size: [16, 32, 48, 64, 96, 128, 192, 256, 384, 512]\n" +
                "momentum: [0, 0.5, 0.8, 0.85, 0.9, 0.92, 0.95, 0.97, 0.98, 0.99]\n");
            var clock = Stopwatch.StartNew();
            var first = TreeExpander.Expand(root);
            var cold = clock.Elapsed.TotalSeconds;
            clock.Restart();
            var second = TreeExpander.Expand(root);
            var warm = clock.Elapsed.TotalSeconds;
            if (first.Trials.Count() != 10_000 || second.Leaves[0].Written != 0) throw new InvalidOperationException("the expansion benchmark did not expand as expected");
            Figures.Print("trials.expand_10000_first", cold, "s", "writes 10,000 trial folders; target <= 2 s");
            Figures.Print("trials.expand_10000_again", warm, "s", "nothing changed: reads and compares");
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }

    private static void Write(string path, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }
}
