using System.Diagnostics;
using System.Globalization;
using Kiln.Protocol;
using Kiln.Runs;
using Kiln.Train.Runs;

namespace Kiln.Bench;

/// <summary>
/// Checkpoint write and resume time of the built-in runs, in process, on the data the runs would use here (Fashion-MNIST
/// when installed). Write: the same steps with a checkpoint after every step and with none, the difference per step.
/// Resume: the time from the launch to the first step's metrics, fresh and from a checkpoint.
/// </summary>
internal static class CheckpointBench
{
    public static void Run(int steps, int rounds)
    {
        foreach (var config in new[] { "simple", "multitask" })
        {
            var write = new List<double>();
            var fresh = new List<double>();
            var resumed = new List<double>();
            long bytes = 0;
            for (var r = 0; r < rounds; r++)
            {
                var root = Path.Combine(Path.GetTempPath(), $"kiln-bench-ckpt-{Guid.NewGuid():N}");
                try
                {
                    var none = Timed(Options(root, config, "none", steps, 0));
                    var every = Timed(Options(root, config, "every", steps, 1));
                    write.Add((every.Total - none.Total) / (steps - 1) * 1000);
                    fresh.Add(none.FirstStep * 1000);
                    var dir = Path.Combine(root, "every");
                    var checkpoint = RunCheckpoint.Read(dir)!;
                    bytes = new FileInfo(Path.Combine(dir, RunFiles.Checkpoint, checkpoint.Tensors)).Length;
                    // The last checkpoint is at the last step: the resumed run trains that one step.
                    resumed.Add(Timed(Options(root, config, "every", steps, 0) with { Resume = true }).FirstStep * 1000);
                }
                finally
                {
                    Directory.Delete(root, recursive: true);
                }
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{config,-10} checkpoint {bytes / 1e6:0.0} MB: write {Median(write):0.0} ms; first step {Median(fresh):0} ms fresh, {Median(resumed):0} ms resumed (median of {rounds})"));
        }
    }

    private static LaunchOptions Options(string root, string config, string run, int steps, long every) => new()
    {
        Function = BuiltInRuns.Get(config), RunDir = Path.Combine(root, run), MaxSteps = steps, Seed = 1, CheckpointEvery = every,
        Params = new() { ["eval_every"] = 1_000_000 }, Kernel = new Kiln.Kernel.KernelOptions(),
    };

    private static (double Total, double FirstStep) Timed(LaunchOptions options)
    {
        var clock = Stopwatch.StartNew();
        double? first = null;
        var result = RunLauncher.Run(options, progress: (_, _) => first ??= clock.Elapsed.TotalSeconds);
        if (result.Status != RunInfo.Completed) throw new InvalidOperationException($"{options.RunDir}: {result.Status} {result.Error}");
        return (clock.Elapsed.TotalSeconds, first ?? double.NaN);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}
