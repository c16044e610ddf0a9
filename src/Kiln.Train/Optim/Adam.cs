using System.Numerics;
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
/// AdamW multiplies <c>p</c> by <c>1 − lr·wd</c> first. One fused pass per parameter.
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

    protected override void Update(ParamGroup group, int index, Tensor parameter, float lr)
    {
        if (index == 0) _t[group] = _t.GetValueOrDefault(group) + 1;
        var t = _t[group];
        var b1 = (float)group.Beta1;
        var b2 = (float)group.Beta2;
        var bc1 = 1.0 - Math.Pow(group.Beta1, t);
        var bc2 = 1.0 - Math.Pow(group.Beta2, t);
        var stepSize = (float)(lr / bc1);
        var invSqrtBc2 = (float)(1.0 / Math.Sqrt(bc2));
        var eps = (float)group.Eps;
        var wd = (float)group.WeightDecay;
        var p = parameter.Span;
        var g = parameter.Grad!.Span;
        if (wd != 0f)
        {
            if (Decoupled) TensorPrimitives.Multiply(p, 1f - lr * wd, p);
            else TensorPrimitives.MultiplyAdd(p, wd, g, g);
        }
        var m = State(_m, parameter);
        var v = State(_v, parameter);
        var n = parameter.Size;
        // Each element's update is independent, so splitting a large parameter across the cores changes no bit.
        Workers.Run((n + UpdateChunk - 1) / UpdateChunk, part =>
        {
            var from = part * UpdateChunk;
            var length = Math.Min(UpdateChunk, n - from);
            Fused(parameter.Data.AsSpan(from, length), parameter.Grad!.Data.AsSpan(from, length), m.AsSpan(from, length), v.AsSpan(from, length),
                b1, b2, stepSize, invSqrtBc2, eps);
        });
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

    /// <summary>Elements per part of an update: large enough that a part outweighs handing it to another core.</summary>
    private const int UpdateChunk = 65_536;

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void Fused(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, float b1, float b2, float stepSize, float invSqrtBc2, float eps)
    {
        var i = 0;
        // The same operations in the same order in every lane width and in the scalar tail, so the width changes no bit.
        if (Vector512.IsHardwareAccelerated && p.Length >= Vector512<float>.Count)
        {
            var vb1 = Vector512.Create(b1);
            var vb1c = Vector512.Create(1f - b1);
            var vb2 = Vector512.Create(b2);
            var vb2c = Vector512.Create(1f - b2);
            var vs = Vector512.Create(stepSize);
            var vc = Vector512.Create(invSqrtBc2);
            var ve = Vector512.Create(eps);
            for (; i <= p.Length - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var gi = Vector512.Create(g[i..]);
                var mi = vb1 * Vector512.Create(m[i..]) + vb1c * gi;
                var vi = vb2 * Vector512.Create(v[i..]) + vb2c * gi * gi;
                mi.CopyTo(m[i..]);
                vi.CopyTo(v[i..]);
                var denom = Vector512.Sqrt(vi) * vc + ve;
                (Vector512.Create(p[i..]) - vs * mi / denom).CopyTo(p[i..]);
            }
        }
        if (Vector.IsHardwareAccelerated && p.Length - i >= Vector<float>.Count)
        {
            var vb1 = new Vector<float>(b1);
            var vb1c = new Vector<float>(1f - b1);
            var vb2 = new Vector<float>(b2);
            var vb2c = new Vector<float>(1f - b2);
            var vs = new Vector<float>(stepSize);
            var vc = new Vector<float>(invSqrtBc2);
            var ve = new Vector<float>(eps);
            for (; i <= p.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var gi = new Vector<float>(g[i..]);
                var mi = vb1 * new Vector<float>(m[i..]) + vb1c * gi;
                var vi = vb2 * new Vector<float>(v[i..]) + vb2c * gi * gi;
                mi.CopyTo(m[i..]);
                vi.CopyTo(v[i..]);
                var denom = Vector.SquareRoot(vi) * vc + ve;
                (new Vector<float>(p[i..]) - vs * mi / denom).CopyTo(p[i..]);
            }
        }
        for (; i < p.Length; i++)
        {
            var mi = b1 * m[i] + (1f - b1) * g[i];
            var vi = b2 * v[i] + (1f - b2) * g[i] * g[i];
            m[i] = mi;
            v[i] = vi;
            p[i] -= stepSize * mi / (MathF.Sqrt(vi) * invSqrtBc2 + eps);
        }
    }
}
