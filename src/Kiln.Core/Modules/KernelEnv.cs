namespace Kiln.Modules;

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
    /// <summary>Anything else a trainer wants to hand to its callbacks (Kiln.Train puts the batch's input under <c>batch_x</c>).</summary>
    public IDictionary<string, object?> Items { get; } = new Dictionary<string, object?>();

    /// <summary>The run directory (set by the kernel), where callbacks may write their own files.</summary>
    public string? RunDir { get; internal set; }

    /// <summary>Where <see cref="Emit"/> sends callbacks' metrics; <c>kiln launch</c> connects it to <c>kiln.metrics.jsonl</c>.</summary>
    public Action<long, IReadOnlyList<(string Name, double Value)>>? MetricsSink { get; set; }

    /// <summary>
    /// Reports metrics at the current step (a no-op when the trainer has no sink, and for a callback the kernel left
    /// running after it overran its time budget: the run has moved on without it).
    /// </summary>
    public void Emit(params (string Name, double Value)[] values)
    {
        if (Callbacks.CallbackThread.CurrentIsAbandoned) return;
        MetricsSink?.Invoke(Step, values);
    }

    /// <summary>
    /// How the trainer rolls back to a checkpoint it kept (<c>core restore_checkpoint</c>): given the newest step the
    /// checkpoint may have (null: the latest), it puts the weights and the optimizer's state back and returns the
    /// checkpoint's step; it throws a <see cref="Protocol.ProtocolException"/> when it keeps none that fits. Null when the
    /// trainer cannot roll back.
    /// </summary>
    public Func<long?, long>? RestoreCheckpoint { get; set; }

    /// <summary>Why a callback asked training to stop (early stopping), or null.</summary>
    public string? StopRequest { get; private set; }

    /// <summary>Asks the trainer to stop after this safe point; the first reason given is kept. Ignored from a callback left running.</summary>
    public void RequestStop(string reason)
    {
        if (Callbacks.CallbackThread.CurrentIsAbandoned) return;
        StopRequest ??= reason;
    }

    /// <summary>Metric by name, or <paramref name="fallback"/> when the trainer has not reported it.</summary>
    public double Metric(string name, double fallback = double.NaN) => Metrics.TryGetValue(name, out var v) ? v : fallback;
}
