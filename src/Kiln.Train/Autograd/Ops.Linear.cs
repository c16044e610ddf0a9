using Kiln.Train.Compute;
using Kiln.Train.Tensors;

namespace Kiln.Train.Autograd;

/// <summary>
/// The differentiable operations. Each computes its result, and when an input requires gradients records
/// how to send the result's gradient back to its inputs (accumulating, so a tensor used twice gets both).
/// </summary>
public static partial class Ops
{
    private static bool Needs(Tensor t) => t.RequiresGrad && Tape.Recording;

    private static bool Needs(Tensor a, Tensor b) => (a.RequiresGrad || b.RequiresGrad) && Tape.Recording;

    /// <summary>Matrix product of [m, k] and [k, n].</summary>
    public static Tensor MatMul(Tensor a, Tensor b)
    {
        if (a.Rank != 2 || b.Rank != 2 || a.Shape[1] != b.Shape[0])
            throw new ArgumentException($"matmul needs [m, k] x [k, n], got {a} x {b}");
        int m = a.Shape[0], k = a.Shape[1], n = b.Shape[1];
        using var timed = OpTimes.Measure(OpKind.Gemm);
        var y = Tape.Output([m, n], Needs(a, b));
        Gemm.Sgemm(false, false, m, n, k, 1f, a.Data, 0, k, b.Data, 0, n, 0f, y.Data, 0, n);
        if (y.RequiresGrad)
        {
            Tape.Record(() =>
            {
                if (y.Grad is not { } gy) return;
                using var timed = OpTimes.Measure(OpKind.Gemm);
                if (a.RequiresGrad) Gemm.Sgemm(false, true, m, k, n, 1f, gy.Data, 0, n, b.Data, 0, n, 1f, Tape.GradOf(a).Data, 0, k);
                if (b.RequiresGrad) Gemm.Sgemm(true, false, k, n, m, 1f, a.Data, 0, k, gy.Data, 0, n, 1f, Tape.GradOf(b).Data, 0, n);
            });
        }
        return y;
    }

    /// <summary>
    /// <c>x · Wᵀ + b</c> for x [batch, in], weight [out, in] (PyTorch's layout) and bias [out]; one fused step,
    /// so the backward pass writes the weight and bias gradients straight into their buffers.
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias)
    {
        if (x.Rank != 2 || weight.Rank != 2 || x.Shape[1] != weight.Shape[1])
            throw new ArgumentException($"linear needs x [batch, in] and weight [out, in], got {x} and {weight}");
        int m = x.Shape[0], k = x.Shape[1], n = weight.Shape[0];
        if (bias is not null && (bias.Rank != 1 || bias.Shape[0] != n)) throw new ArgumentException($"bias must be [{n}], got {bias}");
        using var timed = OpTimes.Measure(OpKind.Gemm);
        var y = Tape.Output([m, n], Needs(x, weight) || (bias is not null && Needs(bias)));
        if (bias is null)
        {
            Gemm.Sgemm(false, true, m, n, k, 1f, x.Data, 0, k, weight.Data, 0, k, 0f, y.Data, 0, n);
        }
        else
        {
            var bs = bias.Data.AsSpan(0, n);
            for (var i = 0; i < m; i++) bs.CopyTo(y.Data.AsSpan(i * n, n));
            Gemm.Sgemm(false, true, m, n, k, 1f, x.Data, 0, k, weight.Data, 0, k, 1f, y.Data, 0, n);
        }
        if (y.RequiresGrad)
        {
            Tape.Record(() =>
            {
                if (y.Grad is not { } gy) return;
                using var timed = OpTimes.Measure(OpKind.Gemm);
                if (x.RequiresGrad)
                {
                    var gx = Tape.GradToWrite(x, out var fresh);
                    Gemm.Sgemm(false, false, m, k, n, 1f, gy.Data, 0, n, weight.Data, 0, k, fresh ? 0f : 1f, gx.Data, 0, k);
                }
                if (weight.RequiresGrad) Gemm.Sgemm(true, false, n, k, m, 1f, gy.Data, 0, n, x.Data, 0, k, 1f, Tape.GradOf(weight).Data, 0, k);
                if (bias is { RequiresGrad: true })
                {
                    var gb = Tape.GradOf(bias).Data.AsSpan(0, n);
                    for (var i = 0; i < m; i++) TensorPrimitives.Add(gb, gy.Data.AsSpan(i * n, n), gb);
                }
            });
        }
        return y;
    }
}
