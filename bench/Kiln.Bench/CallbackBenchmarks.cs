using System.Diagnostics;
using System.Text.Json.Nodes;
using BenchmarkDotNet.Attributes;
using Kiln.Kernel;
using Kiln.Modules;
using Kiln.Modules.Callbacks;

namespace Kiln.Bench;

/// <summary>A callback that does nothing: what a safe point costs to reach one.</summary>
internal sealed class NoopCallback : IKilnCallback
{
    public long Calls;
    public string Id => "noop";
    public void Handle(string evt, KernelEnv env) => Calls++;
    public void SetParams(JsonObject parameters) { }
}

/// <summary>A safe point with nothing due but one enabled callback, back to back (the callback thread stays awake).</summary>
[MemoryDiagnoser]
public class CallbackBenchmarks
{
    private string _dir = "";
    private KilnKernel _kernel = null!;
    private readonly KernelEnv _env = new() { Epoch = 0, Phase = "train" };
    private long _step;

    [GlobalSetup]
    public void Setup()
    {
        _dir = Path.Combine(Path.GetTempPath(), "kiln-bench-cb-" + Guid.NewGuid().ToString("N")[..8]);
        _kernel = new KilnKernel(_dir);
        _kernel.AddCallback(new NoopCallback());
        _kernel.Apply(0, "train_step_end", _env);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _kernel.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Benchmark]
    public void ApplyOneCallback() => _kernel.Apply(++_step, "train_step_end", _env);
}

/// <summary>
/// A safe point with one enabled callback in a loop that trains between safe points (a busy wait of
/// <c>gapMicros</c>), as a real loop does: the callback thread may have gone to sleep when the safe point comes.
/// Only the <c>Apply</c> calls are timed.
/// </summary>
internal static class CallbackSpacedBench
{
    public static void Run(int steps, double gapMicros)
    {
        var dir = Path.Combine(Path.GetTempPath(), "kiln-bench-cb-spaced-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            using var kernel = new KilnKernel(dir);
            kernel.AddCallback(new NoopCallback());
            var env = new KernelEnv { Epoch = 0, Phase = "train" };
            kernel.Apply(0, "train_step_end", env);
            var gap = (long)(gapMicros * Stopwatch.Frequency / 1e6);
            var costs = new double[steps];
            for (var step = 1; step <= steps; step++)
            {
                var until = Stopwatch.GetTimestamp() + gap;
                while (Stopwatch.GetTimestamp() < until) Thread.SpinWait(20);
                var t0 = Stopwatch.GetTimestamp();
                kernel.Apply(step, "train_step_end", env);
                costs[step - 1] = (Stopwatch.GetTimestamp() - t0) * 1e6 / Stopwatch.Frequency;
            }
            kernel.End(steps, env);
            Array.Sort(costs);
            var name = $"kernel.callback_apply_every_{gapMicros:0}us";
            Figures.Print(name + ".mean", costs.Average(), "us", "one enabled callback; the loop trains between safe points");
            Figures.Print(name + ".p50", Figures.Percentile(costs, 50), "us");
            Figures.Print(name + ".p99", Figures.Percentile(costs, 99), "us");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
