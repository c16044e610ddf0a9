using System.Text.Json.Nodes;
using Kiln.Modules.Opt;
using Kiln.Protocol;
using Kiln.Train.Tensors;

namespace Kiln.Train.Optim;

/// <summary>
/// Schedule-Free AdamW (Defazio et al., "The Road Less Scheduled", 2024), as the authors' <c>AdamWScheduleFree</c>
/// computes it. Three sequences: <c>z</c> takes the Adam-normalised gradient steps, <c>x</c> is a weighted average of
/// the <c>z</c>s (the point to evaluate), and the gradient is taken at <c>y = (1−β₁)z + β₁x</c>:
/// <code>
/// v = β₂v + (1−β₂)g²;   d = g / (√(v / (1−β₂ᵗ)) + ε) + wd·y          (weight decay at y)
/// z ← z − lr_t·d;   c = w_t / Σw (w_t = lr_max²);   x ← (1−c)x + c·z;   y = (1−β₁)z + β₁x
/// </code>
/// with <c>lr_t = lr · min(1, t / warmup)</c>. The parameters hold <c>y</c> while training; <see cref="Eval"/> swaps
/// them to <c>x</c> and <see cref="Train"/> back, which is why a run must call them around every evaluation. There is
/// no schedule to set: the averaging does the annealing. Defaults are the published ones (lr 0.0025, β (0.9, 0.999),
/// ε 1e-8, no warmup, no weight decay).
/// </summary>
public sealed class ScheduleFreeAdamW : Optimizer
{
    public const double DefaultLr = 0.0025;

    /// <summary>The power of <c>lr_max</c> in the averaging weight (the authors' <c>weight_lr_power</c>).</summary>
    private const double WeightLrPower = 2.0;

    private readonly Dictionary<Tensor, float[]> _z = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Tensor, float[]> _v = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<ParamGroup, GroupState> _groups = [];

    /// <summary>What one group's step shares: its count, the largest rate seen, the averaging weights' sum, this step's coefficients.</summary>
    private sealed class GroupState
    {
        public long K;
        public double LrMax;
        public double WeightSum;
        public long ComputedAt = -1;
        public float Lr;
        public float Ckp1;
        public float YLr;
        public float InvBc2;
        /// <summary>The β₁ the parameters were swapped to x with, so the swap back is its exact inverse even if β₁ changed meanwhile.</summary>
        public double EvalBeta1;
    }

    public ScheduleFreeAdamW(IEnumerable<ParamGroup> groups, long warmupSteps = 0)
        : base("sf_adamw", groups, [OptimizerKey.Beta1, OptimizerKey.Beta2, OptimizerKey.Eps])
    {
        ArgumentOutOfRangeException.ThrowIfNegative(warmupSteps);
        WarmupSteps = warmupSteps;
        foreach (var g in ParamGroups) _groups[g] = new GroupState();
    }

    /// <summary>Steps over which the rate ramps linearly from lr/warmup to lr.</summary>
    public long WarmupSteps { get; }

    /// <summary>True while the parameters hold y (the training point); false after <see cref="Eval"/> (they hold x).</summary>
    public bool TrainMode { get; private set; } = true;

    /// <summary>Swaps the parameters to x, the averaged point a schedule-free model is evaluated and saved at.</summary>
    public void Eval()
    {
        if (!TrainMode) return;
        foreach (var g in ParamGroups)
        {
            var s = _groups[g];
            s.EvalBeta1 = g.Beta1;
            // x = y/β₁ − (1−β₁)/β₁·z = y + (1 − 1/β₁)(z − y)
            Lerp(g, (float)(1 - 1 / s.EvalBeta1));
        }
        TrainMode = false;
    }

    /// <summary>Swaps the parameters back to y = (1−β₁)z + β₁x before training goes on.</summary>
    public void Train()
    {
        if (TrainMode) return;
        foreach (var g in ParamGroups) Lerp(g, (float)(1 - _groups[g].EvalBeta1));
        TrainMode = true;
    }

    private void Lerp(ParamGroup group, float weight)
    {
        foreach (var p in group.Params)
        {
            // A parameter never stepped has z = y = x: nothing to swap.
            if (!_z.TryGetValue(p, out var z)) continue;
            var y = p.Span;
            for (var i = 0; i < y.Length; i++) y[i] += weight * (z[i] - y[i]);
        }
    }

    protected override void Update(ParamGroup group, int index, Tensor parameter, float lr)
    {
        if (!TrainMode) throw new InvalidOperationException("sf_adamw: Step while the parameters hold x; call Train() after evaluating");
        var s = _groups[group];
        if (s.ComputedAt != Updates) Begin(group, s, lr);
        var y = parameter.Span;
        var g = parameter.Grad!.Span;
        if (!_z.TryGetValue(parameter, out var z)) _z[parameter] = z = y.ToArray();
        var v = State(_v, parameter);
        var b2 = (float)group.Beta2;
        var eps = (float)group.Eps;
        var wd = (float)group.WeightDecay;
        for (var i = 0; i < y.Length; i++)
        {
            var gi = g[i];
            var vi = b2 * v[i] + (1f - b2) * gi * gi;
            v[i] = vi;
            var d = gi / (MathF.Sqrt(vi * s.InvBc2) + eps) + wd * y[i];
            // y ← (1−c)y + c·z + lr(β₁(1−c) − 1)·d, which keeps y = (1−β₁)z + β₁x without storing x.
            y[i] += s.Ckp1 * (z[i] - y[i]) + s.YLr * d;
            z[i] -= s.Lr * d;
        }
    }

    /// <summary>The group's coefficients for this step, computed once, before its first parameter moves.</summary>
    private void Begin(ParamGroup group, GroupState s, float baseLr)
    {
        s.ComputedAt = Updates;
        var k = s.K++;
        var sched = WarmupSteps > 0 && k < WarmupSteps ? (k + 1) / (double)WarmupSteps : 1.0;
        var lr = baseLr * sched;
        s.LrMax = Math.Max(lr, s.LrMax);
        var weight = Math.Pow(s.LrMax, WeightLrPower);
        s.WeightSum += weight;
        var ckp1 = s.WeightSum > 0 ? weight / s.WeightSum : 0;
        s.Lr = (float)lr;
        s.Ckp1 = (float)ckp1;
        s.YLr = (float)(lr * (group.Beta1 * (1 - ckp1) - 1));
        s.InvBc2 = (float)(1 / (1 - Math.Pow(group.Beta2, k + 1)));
    }

    /// <summary>
    /// z and v per parameter, and per group the step count, the largest rate seen and the sum of the averaging weights
    /// (what the next step's averaging weight depends on). Saved in training mode: the parameters then hold y.
    /// </summary>
    protected override void SaveBuffers(IDictionary<string, Tensor> buffers, JsonObject state)
    {
        if (!TrainMode) throw new InvalidOperationException("a schedule-free optimizer is checkpointed in training mode (call Train() first): its parameters must hold y");
        SaveMap(_z, "z", buffers);
        SaveMap(_v, "v", buffers);
        var groups = new JsonObject();
        foreach (var g in ParamGroups)
            if (_groups.TryGetValue(g, out var s)) groups[g.Name] = new JsonObject { ["k"] = s.K, ["lr_max"] = s.LrMax, ["weight_sum"] = s.WeightSum };
        state["schedule_free"] = groups;
    }

    protected override void RestoreBuffers(IReadOnlyDictionary<string, Tensor> buffers, JsonObject state, string where)
    {
        RestoreMap(_z, "z", buffers, where);
        RestoreMap(_v, "v", buffers, where);
        var groups = JsonValues.GetObject(state["schedule_free"], where + ".schedule_free");
        foreach (var g in ParamGroups)
        {
            if (groups[g.Name] is not { } node) continue;
            var o = JsonValues.GetObject(node, $"{where}.schedule_free.{g.Name}");
            _groups[g] = new GroupState
            {
                K = JsonValues.GetLong(o["k"], $"{where}.schedule_free.{g.Name}.k"),
                LrMax = JsonValues.GetDouble(o["lr_max"], $"{where}.schedule_free.{g.Name}.lr_max"),
                WeightSum = JsonValues.GetDouble(o["weight_sum"], $"{where}.schedule_free.{g.Name}.weight_sum"),
            };
        }
        TrainMode = true;
    }
}
