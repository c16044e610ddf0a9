using BenchmarkDotNet.Attributes;
using Kiln.Kernel;
using Kiln.Modules.Loss;
using Kiln.Modules.Opt;
using Kiln.Modules;

namespace Kiln.Bench;

/// <summary>The cost of a safe point when nothing is due: the common case of every training step.</summary>
[MemoryDiagnoser]
public class KernelBenchmarks
{
    private string _dir = "";
    private KilnKernel _kernel = null!;
    private readonly KernelEnv _env = new() { Epoch = 0, Phase = "train" };
    private long _step;

    [GlobalSetup]
    public void Setup()
    {
        _dir = Path.Combine(Path.GetTempPath(), "kiln-bench-idle-" + Guid.NewGuid().ToString("N")[..8]);
        _kernel = new KilnKernel(_dir);
        _kernel.AddOptimizer(new OptimizerDials("adam", 1e-3));
        _kernel.AddLoss(new LossDials([("cls", 1.0)]));
        _kernel.Apply(0, "train_step_end", _env);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _kernel.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Default settings: the files are polled every 5 ms, so most calls only read the clock.</summary>
    [Benchmark]
    public void IdleApply() => _kernel.Apply(++_step, "train_step_end", _env);
}
