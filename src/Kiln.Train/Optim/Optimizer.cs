using Kiln.Modules.Opt;
using Kiln.Train.Tensors;

namespace Kiln.Train.Optim;

/// <summary>
/// Base of the optimizers, and their actuator: the kernel's <c>opt</c> module turns the dials of the same object
/// the training loop steps, so a change lands in the very next update.
/// </summary>
public abstract class Optimizer : IOptimizerActuator
{
    private readonly HashSet<OptimizerKey> _supported;

    protected Optimizer(string kind, IEnumerable<ParamGroup> groups, IEnumerable<OptimizerKey> supported)
    {
        Kind = kind;
        ParamGroups = groups.ToList();
        if (ParamGroups.Count == 0) throw new ArgumentException("an optimizer needs at least one parameter group", nameof(groups));
        if (ParamGroups.Select(g => g.Name).Distinct(StringComparer.Ordinal).Count() != ParamGroups.Count)
            throw new ArgumentException("parameter group names must be unique", nameof(groups));
        _supported = [.. supported, OptimizerKey.Lr, OptimizerKey.SchedulerScale, OptimizerKey.WeightDecay, OptimizerKey.ClipNorm];
        Groups = ParamGroups.Select(g => g.Name).ToArray();
    }

    public string Kind { get; }
    public IReadOnlyList<ParamGroup> ParamGroups { get; }
    public IReadOnlyList<string> Groups { get; }

    /// <summary>Clip the global gradient norm to this before updating; 0 turns clipping off.</summary>
    public double ClipNorm { get; set; }

    /// <summary>Updates taken so far (the bias corrections of Adam use it).</summary>
    public long Updates { get; private set; }

    public IEnumerable<Tensor> AllParameters => ParamGroups.SelectMany(g => g.Params);

    public void ZeroGrad()
    {
        foreach (var p in AllParameters) p.Grad?.Span.Clear();
    }

    /// <summary>
    /// One update at <paramref name="step"/> (the schedule's position): clips if asked, then moves every parameter
    /// of every group that is not frozen. Returns the global gradient norm before clipping.
    /// </summary>
    public double Step(long step)
    {
        using var timed = Autograd.OpTimes.Measure(Autograd.OpKind.Optimizer);
        var norm = GradNorm();
        var scale = 1f;
        if (ClipNorm > 0 && norm > ClipNorm) scale = (float)(ClipNorm / (norm + 1e-6));
        Updates++;
        foreach (var g in ParamGroups)
        {
            if (g.Frozen) continue;
            var lr = (float)g.Lr.At(step);
            for (var i = 0; i < g.Params.Count; i++)
            {
                var p = g.Params[i];
                if (p.Grad is null) continue;
                if (scale != 1f) TensorPrimitives.Multiply(p.Grad.Span, scale, p.Grad.Span);
                Update(g, i, p, lr);
            }
        }
        return norm;
    }

    /// <summary>The L2 norm of all gradients together (double accumulation, fixed order).</summary>
    public double GradNorm()
    {
        double total = 0;
        foreach (var g in ParamGroups)
        {
            if (g.Frozen) continue;
            foreach (var p in g.Params)
            {
                if (p.Grad is { } grad) total += TensorPrimitives.SumOfSquares(grad.Span);
            }
        }
        return Math.Sqrt(total);
    }

    protected abstract void Update(ParamGroup group, int index, Tensor parameter, float lr);

    // ---- IOptimizerActuator ----

    public bool Supports(OptimizerKey key) => _supported.Contains(key);

    public double Get(int group, OptimizerKey key, long step) => key == OptimizerKey.ClipNorm ? ClipNorm : ParamGroups[group].Get(key, step);

    public void Set(int group, OptimizerKey key, double value, long step)
    {
        if (key == OptimizerKey.ClipNorm) ClipNorm = value;
        else ParamGroups[group].Set(key, value, step);
    }

    public ScheduledLr? LrOf(int group) => ParamGroups[group].Lr;

    /// <summary>Per-parameter state buffers (momentum, moments), created zeroed on first use.</summary>
    protected static float[] State(Dictionary<Tensor, float[]> states, Tensor p)
    {
        if (!states.TryGetValue(p, out var s)) states[p] = s = new float[p.Size];
        return s;
    }
}
