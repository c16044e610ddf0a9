using Kiln.Train.Tensors;

namespace Kiln.Train.Autograd;

public static partial class Ops
{
    /// <summary>Layer normalization over the last dimension, then <c>· weight + bias</c> (both [last]).</summary>
    public static Tensor LayerNorm(Tensor x, Tensor weight, Tensor bias, float eps = 1e-5f)
    {
        var d = x.Shape[^1];
        if (weight.Size != d || bias.Size != d) throw new ArgumentException($"layer norm over {d} features needs weight and bias of {d}, got {weight} and {bias}");
        var rows = x.Size / d;
        var y = Tape.Output(x.Shape, Needs(x) || Needs(weight) || Needs(bias));
        var xhat = Tape.Output(x.Shape, requiresGrad: false);
        var rstd = new float[rows];
        for (var r = 0; r < rows; r++)
        {
            var row = x.Data.AsSpan(r * d, d);
            var mean = TensorPrimitives.Sum(row) / d;
            var xh = xhat.Data.AsSpan(r * d, d);
            TensorPrimitives.Subtract(row, mean, xh);
            var variance = TensorPrimitives.SumOfSquares(xh) / d;
            rstd[r] = 1f / MathF.Sqrt(variance + eps);
            TensorPrimitives.Multiply(xh, rstd[r], xh);
            var yr = y.Data.AsSpan(r * d, d);
            TensorPrimitives.FusedMultiplyAdd(xh, weight.Data.AsSpan(0, d), bias.Data.AsSpan(0, d), yr);
        }
        if (y.RequiresGrad)
        {
            Tape.Record(() =>
            {
                if (y.Grad is not { } gy) return;
                var gxhat = new float[d];
                for (var r = 0; r < rows; r++)
                {
                    var g = gy.Data.AsSpan(r * d, d);
                    var xh = xhat.Data.AsSpan(r * d, d);
                    if (weight.RequiresGrad)
                    {
                        var gw = Tape.GradOf(weight).Data.AsSpan(0, d);
                        TensorPrimitives.FusedMultiplyAdd(g, xh, gw, gw);
                    }
                    if (bias.RequiresGrad)
                    {
                        var gb = Tape.GradOf(bias).Data.AsSpan(0, d);
                        TensorPrimitives.Add(gb, g, gb);
                    }
                    if (!x.RequiresGrad) continue;
                    TensorPrimitives.Multiply(g, weight.Data.AsSpan(0, d), gxhat);
                    var sum = TensorPrimitives.Sum(gxhat);
                    var dot = TensorPrimitives.Dot(gxhat, xh);
                    var gx = Tape.GradOf(x).Data.AsSpan(r * d, d);
                    var k = rstd[r] / d;
                    for (var i = 0; i < d; i++) gx[i] += k * (d * gxhat[i] - sum - xh[i] * dot);
                }
            });
        }
        return y;
    }

    /// <summary>Zeroes each value with probability <paramref name="p"/> and scales the rest by 1/(1−p); the identity when not training.</summary>
    public static Tensor Dropout(Tensor x, float p, Rng rng, bool training)
    {
        if (p < 0 || p >= 1) throw new ArgumentException($"dropout probability must be in [0, 1), got {p}");
        if (!training || p == 0f) return x;
        var y = Tape.Output(x.Shape, Needs(x));
        var mask = Tape.Output(x.Shape, requiresGrad: false);
        var keep = 1f / (1f - p);
        for (var i = 0; i < x.Size; i++)
        {
            mask.Data[i] = rng.NextDouble() < p ? 0f : keep;
        }
        TensorPrimitives.Multiply(x.Span, mask.Span, y.Span);
        if (y.RequiresGrad)
        {
            Tape.Record(() =>
            {
                if (y.Grad is not { } gy) return;
                var gx = Tape.GradOf(x).Span;
                TensorPrimitives.FusedMultiplyAdd(gy.Span, mask.Span, gx, gx);
            });
        }
        return y;
    }
}
