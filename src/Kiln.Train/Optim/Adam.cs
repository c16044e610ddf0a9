using System.Text.Json.Nodes;
using System.Runtime.Intrinsics;
using Kiln.Train.Compute;
using Kiln.Modules.Opt;
using Kiln.Protocol;
using Kiln.Train.Tensors;

namespace Kiln.Train.Optim;

/// <summary>
/// Adam, and AdamW (decoupled weight decay), as PyTorch computes them: <c>m = β₁m + (1−β₁)g</c>,
/// <c>v = β₂v + (1−β₂)g²</c>, <c>p −= (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)</c>. Adam adds <c>wd·p</c> to the gradient;
/// AdamW multiplies <c>p</c> by <c>1 − lr·wd</c> first. One fused pass over all of a group's parameters.
/// </summary>
public sealed class Adam : Optimizer
{
    private readonly Dictionary<Tensor, float[]> _m = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Tensor, float[]> _v = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<ParamGroup, long> _t = [];

    public Adam(IEnumerable<ParamGroup> groups, bool decoupledWeightDecay = false)
        : base(decoupledWeightDecay ? "adamw" : "adam", groups, [OptimizerKey.Beta1, OptimizerKey.Beta2, OptimizerKey.Eps])
    {
        Decoupled = decoupledWeightDecay;
    }

    /// <summary>AdamW's decoupled weight decay.</summary>
    public bool Decoupled { get; }

    /// <summary>The parameters of the group being stepped, in order, gathered until its last one (see <see cref="Update"/>).</summary>
    private readonly List<(Tensor Param, float[] M, float[] V)> _pending = [];

    /// <summary>Where each pending parameter starts in the values of all of them laid end to end; reused from step to step.</summary>
    private readonly List<long> _starts = [];

    protected override void Update(ParamGroup group, int index, Tensor parameter, float lr)
    {
        if (index == 0) _t[group] = _t.GetValueOrDefault(group) + 1;
        _pending.Add((parameter, State(_m, parameter), State(_v, parameter)));
        // The base class calls this for each parameter with a gradient, in order, after clipping it. The update itself
        // waits for the group's last such parameter and then runs as one job over all of them, so small parameters
        // (biases, a last layer) share parts with large ones and both cores get work, in one hand-over instead of one per tensor.
        for (var j = index + 1; j < group.Params.Count; j++)
        {
            if (group.Params[j].Grad is not null) return;
        }
        try
        {
            UpdateGroup(group, lr);
        }
        finally
        {
            _pending.Clear();
        }
    }

    protected override void SaveBuffers(IDictionary<string, Tensor> buffers, JsonObject state)
    {
        SaveMap(_m, "m", buffers);
        SaveMap(_v, "v", buffers);
        var t = new JsonObject();
        foreach (var g in ParamGroups) if (_t.TryGetValue(g, out var n)) t[g.Name] = n;
        state["t"] = t;
    }

    protected override void RestoreBuffers(IReadOnlyDictionary<string, Tensor> buffers, JsonObject state, string where)
    {
        RestoreMap(_m, "m", buffers, where);
        RestoreMap(_v, "v", buffers, where);
        var t = JsonValues.GetObject(state["t"], where + ".t");
        _t.Clear();
        foreach (var g in ParamGroups) if (t[g.Name] is { } n) _t[g] = JsonValues.GetLong(n, $"{where}.t.{g.Name}");
    }

    private void UpdateGroup(ParamGroup group, float lr)
    {
        var t = _t[group];
        var bc1 = 1.0 - Math.Pow(group.Beta1, t);
        var bc2 = 1.0 - Math.Pow(group.Beta2, t);
        var wd = (float)group.WeightDecay;
        var k = new Coefficients((float)group.Beta1, (float)group.Beta2, (float)(lr / bc1), (float)(1.0 / Math.Sqrt(bc2)), (float)group.Eps,
            Decoupled ? 0f : wd, Decoupled && wd != 0f ? 1f - lr * wd : 1f);
        _starts.Clear();
        var total = 0L;
        foreach (var (param, _, _) in _pending)
        {
            _starts.Add(total);
            total += param.Size;
        }
        // The parts are fixed ranges of all the group's values laid end to end (a part may span several small
        // parameters), and each value's update is independent, so the split changes no bit. A small model's update is
        // not worth a hand-over to the other core.
        var parts = (int)((total + UpdateChunk - 1) / UpdateChunk);
        if (total < ParallelValues)
        {
            for (var part = 0; part < parts; part++) UpdatePart(part, total, k);
            return;
        }
        Workers.Run(parts, part => UpdatePart(part, total, k));
    }

    private void UpdatePart(int part, long total, in Coefficients k)
    {
        var from = (long)part * UpdateChunk;
        var to = Math.Min(total, from + UpdateChunk);
        var i = _starts.BinarySearch(from);
        if (i < 0) i = ~i - 1;
        for (; i < _pending.Count && _starts[i] < to; i++)
        {
            var (p, m, v) = _pending[i];
            var begin = (int)(Math.Max(from, _starts[i]) - _starts[i]);
            var end = (int)(Math.Min(to, _starts[i] + p.Size) - _starts[i]);
            if (end <= begin) continue;
            Fused(p.Data.AsSpan(begin, end - begin), p.Grad!.Data.AsSpan(begin, end - begin), m.AsSpan(begin, end - begin), v.AsSpan(begin, end - begin), k);
        }
    }

    /// <summary>
    /// Elements per part of an update: small enough that a busy core's share can move to the other one, large enough
    /// that a part outweighs claiming it (~10 µs of work).
    /// </summary>
    private const int UpdateChunk = 32_768;

    /// <summary>Below this many values in a group the update runs on the calling thread.</summary>
    private const int ParallelValues = 65_536;

    /// <summary>One update's constants: β₁, β₂, lr/(1−β₁ᵗ), 1/√(1−β₂ᵗ), ε, the L2 term's weight and AdamW's decay factor.</summary>
    private readonly record struct Coefficients(float B1, float B2, float StepSize, float InvSqrtBc2, float Eps, float L2, float Decay);

    /// <summary>
    /// The whole update of a range in one pass: the L2 term is added to the gradient (written back, as before the
    /// fusion, so the gradient reads the same afterwards) or the AdamW decay applied, then the moments and the step.
    /// The same operations in the same order in every lane width and in the scalar tail, so the width changes no bit.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Fused(Span<float> ps, Span<float> gs, Span<float> ms, Span<float> vs, in Coefficients k)
    {
        var n = ps.Length;
        var i = 0;
        var l2 = k.L2 != 0f;
        var decay = k.Decay != 1f;
        fixed (float* p = ps, g = gs, m = ms, v = vs)
        {
            if (Vector512.IsHardwareAccelerated)
            {
                var b1 = Vector512.Create(k.B1);
                var b1c = Vector512.Create(1f - k.B1);
                var b2 = Vector512.Create(k.B2);
                var b2c = Vector512.Create(1f - k.B2);
                var step = Vector512.Create(k.StepSize);
                var c = Vector512.Create(k.InvSqrtBc2);
                var e = Vector512.Create(k.Eps);
                var wd = Vector512.Create(k.L2);
                var dc = Vector512.Create(k.Decay);
                for (; i <= n - 16; i += 16)
                {
                    var pi = Vector512.Load(p + i);
                    var gi = Vector512.Load(g + i);
                    if (l2)
                    {
                        gi = pi * wd + gi;
                        gi.Store(g + i);
                    }
                    if (decay) pi *= dc;
                    var mi = b1 * Vector512.Load(m + i) + b1c * gi;
                    var vi = b2 * Vector512.Load(v + i) + b2c * gi * gi;
                    mi.Store(m + i);
                    vi.Store(v + i);
                    (pi - step * mi / (Vector512.Sqrt(vi) * c + e)).Store(p + i);
                }
            }
            if (Vector256.IsHardwareAccelerated)
            {
                var b1 = Vector256.Create(k.B1);
                var b1c = Vector256.Create(1f - k.B1);
                var b2 = Vector256.Create(k.B2);
                var b2c = Vector256.Create(1f - k.B2);
                var step = Vector256.Create(k.StepSize);
                var c = Vector256.Create(k.InvSqrtBc2);
                var e = Vector256.Create(k.Eps);
                var wd = Vector256.Create(k.L2);
                var dc = Vector256.Create(k.Decay);
                for (; i <= n - 8; i += 8)
                {
                    var pi = Vector256.Load(p + i);
                    var gi = Vector256.Load(g + i);
                    if (l2)
                    {
                        gi = pi * wd + gi;
                        gi.Store(g + i);
                    }
                    if (decay) pi *= dc;
                    var mi = b1 * Vector256.Load(m + i) + b1c * gi;
                    var vi = b2 * Vector256.Load(v + i) + b2c * gi * gi;
                    mi.Store(m + i);
                    vi.Store(v + i);
                    (pi - step * mi / (Vector256.Sqrt(vi) * c + e)).Store(p + i);
                }
            }
            for (; i < n; i++)
            {
                var pi = p[i];
                var gi = g[i];
                if (l2) g[i] = gi = pi * k.L2 + gi;
                if (decay) pi *= k.Decay;
                var mi = k.B1 * m[i] + (1f - k.B1) * gi;
                var vi = k.B2 * v[i] + (1f - k.B2) * gi * gi;
                m[i] = mi;
                v[i] = vi;
                p[i] = pi - k.StepSize * mi / (MathF.Sqrt(vi) * k.InvSqrtBc2 + k.Eps);
            }
        }
    }
}
