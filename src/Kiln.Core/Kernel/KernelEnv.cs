namespace Kiln.Kernel;

/// <summary>
/// What the trainer tells the kernel (and its callbacks) at a safe point. The trainer keeps one instance and
/// updates it; the kernel sets <see cref="Step"/> and <see cref="Event"/> on every call.
/// </summary>
public sealed class KernelEnv
{
    public long Step { get; internal set; }
    public string Event { get; internal set; } = "";
    public int? Epoch { get; set; }
    /// <summary><c>train</c>, <c>val</c>, …</summary>
    public string? Phase { get; set; }
    /// <summary>The run's step budget, when known (loss ramps given as <c>warmup_frac</c> need it).</summary>
    public long? MaxSteps { get; set; }
    /// <summary>The last loss value.</summary>
    public double? Loss { get; set; }
    /// <summary>Latest metric values by name.</summary>
    public IDictionary<string, double> Metrics { get; } = new Dictionary<string, double>();
    /// <summary>The model being trained (an engine-specific object).</summary>
    public object? Model { get; set; }
    /// <summary>The optimizer (an engine-specific object).</summary>
    public object? Optimizer { get; set; }
    /// <summary>Where callbacks write messages for the user.</summary>
    public Action<string> Log { get; set; } = Console.WriteLine;
    /// <summary>Anything else a trainer wants to hand to its callbacks.</summary>
    public IDictionary<string, object?> Items { get; } = new Dictionary<string, object?>();

    /// <summary>Metric by name, or <paramref name="fallback"/> when the trainer has not reported it.</summary>
    public double Metric(string name, double fallback = double.NaN) => Metrics.TryGetValue(name, out var v) ? v : fallback;
}
