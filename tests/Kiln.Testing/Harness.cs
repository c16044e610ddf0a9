using System.Text.Json.Nodes;
using Kiln.Kernel;
using Kiln.Modules.Callbacks;
using Kiln.Modules.Loss;
using Kiln.Modules.Opt;
using Kiln.Modules;


namespace Kiln.Testing;

/// <summary>A run directory with a kernel, an optimizer (two groups), a loss and a manual clock.</summary>
public sealed class Harness : IDisposable
{
    private readonly TempDir _dir = new("kernel");

    public Harness(TimeSpan? poll = null, int debounce = 1, bool autoDisable = true, IEnumerable<(string, double, LrSchedule?)>? groups = null)
    {
        Run = new RunDir(_dir.Path);
        Options = new KernelOptions { Time = Clock, PollInterval = poll ?? TimeSpan.Zero, DebounceSteps = debounce, AutoDisableOnError = autoDisable, Warn = Warnings.Add };
        Opt = new OptimizerDials("adamw", groups ?? [("backbone", 0.01, null), ("head", 0.01, null)]);
        Loss = new LossDials([("cls", 1.0), ("recon", 0.5)]);
        Kernel = NewKernel();
    }

    public ManualTimeProvider Clock { get; } = new();
    public KernelOptions Options { get; set; }
    public RunDir Run { get; }
    public string Dir => _dir.Path;
    public OptimizerDials Opt { get; private set; }
    public LossDials Loss { get; private set; }
    public KilnKernel Kernel { get; private set; }
    public KernelEnv Env { get; } = new() { Epoch = 0, Phase = "train" };
    public List<string> Warnings { get; } = [];

    private KilnKernel NewKernel()
    {
        var k = new KilnKernel(_dir.Path, Options);
        k.AddOptimizer(Opt);
        k.AddLoss(Loss);
        return k;
    }

    /// <summary>Stops this kernel and starts a new one on the same directory with fresh dials (a restarted process).</summary>
    public void Restart(double lr = 0.01)
    {
        Kernel.Dispose();
        Opt = new OptimizerDials("adamw", [("backbone", lr, null), ("head", lr, null)]);
        Loss = new LossDials([("cls", 1.0), ("recon", 0.5)]);
        Kernel = NewKernel();
    }

    public void Step(long step, string evt = "train_step_end") => Kernel.Apply(step, evt, Env);

    public double Lr(int group = 0, long step = 0) => Opt.Lr(group, step);

    public void Dispose()
    {
        Kernel.Dispose();
        _dir.Dispose();
    }
}

/// <summary>A callback that counts its calls and can be told to throw.</summary>
public sealed class CountingCallback(string id, int every = 1) : IKilnCallback
{
    public string Id { get; } = id;
    public int Every { get; private set; } = every;
    public int Calls { get; private set; }
    public bool Throw { get; set; }
    public bool Closed { get; private set; }
    public List<string> Events { get; } = [];

    public void Handle(string evt, KernelEnv env)
    {
        if (Throw) throw new InvalidOperationException("boom at step " + env.Step);
        Calls++;
        Events.Add($"{env.Step}:{evt}");
    }

    public void SetParams(JsonObject parameters)
    {
        if (parameters["every"] is { } e) Every = e.GetValue<int>();
    }

    public void Close() => Closed = true;
}
