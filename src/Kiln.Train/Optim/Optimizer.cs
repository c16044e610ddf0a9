using System.Text.Json.Nodes;
using Kiln.Modules.Opt;
using Kiln.Protocol;
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

    // ---- checkpoints ----

    /// <summary>
    /// What the next updates depend on besides the parameters: the dials of every group, the update count and clipping
    /// (returned), and the optimizer's buffers (added to <paramref name="buffers"/>, named by group and position).
    /// </summary>
    public JsonObject SaveState(IDictionary<string, Tensor> buffers)
    {
        var groups = new JsonObject();
        foreach (var g in ParamGroups)
        {
            var dials = g.SaveState();
            dials["frozen"] = g.Frozen;
            groups[g.Name] = dials;
        }
        var state = new JsonObject { ["kind"] = Kind, ["updates"] = Updates, ["clip_norm"] = ClipNorm, ["groups"] = groups };
        SaveBuffers(buffers, state);
        return state;
    }

    /// <summary>Continues from what <see cref="SaveState"/> gave, for the same parameters in the same groups.</summary>
    public void RestoreState(JsonObject state, IReadOnlyDictionary<string, Tensor> buffers, string where)
    {
        var kind = JsonValues.GetString(state["kind"], where + ".kind");
        if (kind != Kind) throw new ProtocolException($"{where}.kind: the checkpoint holds a {kind} optimizer, this run has {Kind}");
        var groups = JsonValues.GetObject(state["groups"], where + ".groups");
        foreach (var g in ParamGroups)
        {
            var dials = JsonValues.GetObject(groups[g.Name], $"{where}.groups.{g.Name}");
            g.RestoreState(dials, $"{where}.groups.{g.Name}");
            g.Frozen = JsonValues.GetBool(dials["frozen"], $"{where}.groups.{g.Name}.frozen");
        }
        Updates = JsonValues.GetLong(state["updates"], where + ".updates");
        ClipNorm = JsonValues.GetDouble(state["clip_norm"], where + ".clip_norm");
        RestoreBuffers(buffers, state, where);
    }

    /// <summary>Adds the optimizer's buffers and counters to a checkpoint.</summary>
    protected abstract void SaveBuffers(IDictionary<string, Tensor> buffers, JsonObject state);

    /// <summary>Puts back what <see cref="SaveBuffers"/> saved.</summary>
    protected abstract void RestoreBuffers(IReadOnlyDictionary<string, Tensor> buffers, JsonObject state, string where);

    /// <summary>Saves a per-parameter buffer map under <c>optim.&lt;buffer&gt;.&lt;group&gt;.&lt;index&gt;</c>; parameters without a buffer yet are left out.</summary>
    protected void SaveMap(Dictionary<Tensor, float[]> states, string buffer, IDictionary<string, Tensor> into)
    {
        foreach (var g in ParamGroups)
        {
            for (var i = 0; i < g.Params.Count; i++)
            {
                if (states.TryGetValue(g.Params[i], out var s)) into[BufferName(buffer, g, i)] = new Tensor([s.Length], (float[])s.Clone());
            }
        }
    }

    /// <summary>Rebuilds a buffer map from <see cref="SaveMap"/>'s tensors: a parameter without one has no buffer yet, as it had none.</summary>
    protected void RestoreMap(Dictionary<Tensor, float[]> states, string buffer, IReadOnlyDictionary<string, Tensor> from, string where)
    {
        states.Clear();
        foreach (var g in ParamGroups)
        {
            for (var i = 0; i < g.Params.Count; i++)
            {
                var p = g.Params[i];
                if (!from.TryGetValue(BufferName(buffer, g, i), out var saved)) continue;
                if (saved.Size != p.Size)
                    throw new ProtocolException($"{where}: {BufferName(buffer, g, i)} holds {saved.Size} values, the parameter has {p.Size}");
                states[p] = saved.ToArray();
            }
        }
    }

    private static string BufferName(string buffer, ParamGroup g, int index) => $"optim.{buffer}.{g.Name}.{index}";

    /// <summary>Per-parameter state buffers (momentum, moments), created zeroed on first use.</summary>
    protected static float[] State(Dictionary<Tensor, float[]> states, Tensor p)
    {
        if (!states.TryGetValue(p, out var s)) states[p] = s = new float[p.Size];
        return s;
    }
}
