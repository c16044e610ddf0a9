using System.Numerics;
using Kiln.Modules.Opt;
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
        Fused(p, g, State(_m, parameter).AsSpan(0, parameter.Size), State(_v, parameter).AsSpan(0, parameter.Size), b1, b2, stepSize, invSqrtBc2, eps);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void Fused(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, float b1, float b2, float stepSize, float invSqrtBc2, float eps)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated && p.Length >= Vector<float>.Count)
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
