using Kiln.Train.Tensors;

namespace Kiln.Train.Autograd;

public static partial class Ops
{
    /// <summary>The same values under another shape; one dimension may be −1 (inferred).</summary>
    public static Tensor Reshape(Tensor x, params int[] shape)
    {
        var resolved = (int[])shape.Clone();
        var infer = Array.IndexOf(resolved, -1);
        if (infer >= 0)
        {
            var known = 1;
            for (var i = 0; i < resolved.Length; i++) if (i != infer) known *= resolved[i];
            if (known == 0 || x.Size % known != 0) throw new ArgumentException($"cannot reshape {x} to {Tensor.ShapeText(shape)}");
            resolved[infer] = x.Size / known;
        }
        if (Tensor.SizeOf(resolved) != x.Size) throw new ArgumentException($"cannot reshape {x} ({x.Size} values) to {Tensor.ShapeText(resolved)}");
        using var timed = OpTimes.Measure(OpKind.Elementwise);
        var y = Tape.Output(resolved, Needs(x));
        x.Span.CopyTo(y.Span);
        if (y.RequiresGrad)
        {
            Tape.Record(() =>
            {
                if (y.Grad is not { } gy) return;
                using var timed = OpTimes.Measure(OpKind.Elementwise);
                var gx = Tape.GradToWrite(x, out var fresh).Span;
                if (fresh) gy.Span.CopyTo(gx);
                else TensorPrimitives.Add(gx, gy.Span, gx);
            });
        }
        return y;
    }

    /// <summary>[batch, …] → [batch, rest].</summary>
    public static Tensor Flatten(Tensor x) => Reshape(x, x.Shape[0], -1);

    /// <summary>Reorders the axes: output axis i is input axis <paramref name="axes"/>[i].</summary>
    public static Tensor Permute(Tensor x, params int[] axes)
    {
        var rank = x.Rank;
        if (axes.Length != rank || axes.Distinct().Count() != rank || axes.Any(a => a < 0 || a >= rank))
            throw new ArgumentException($"permute of {x} needs each of its {rank} axes once, got {Tensor.ShapeText(axes)}");
        var shape = axes.Select(a => x.Shape[a]).ToArray();
        var y = Tape.Output(shape, Needs(x));
        var inStrides = Strides(x.Shape);
        var strides = axes.Select(a => inStrides[a]).ToArray();
        Gather(x.Data, y.Data, shape, strides);
        if (y.RequiresGrad)
        {
            Tape.Record(() =>
            {
                if (y.Grad is not { } gy) return;
                var gx = Tape.GradOf(x).Data;
                ScatterAdd(gy.Data, gx, shape, strides);
            });
        }
        return y;
    }

    /// <summary>Swaps two axes (for a matrix, its transpose).</summary>
    public static Tensor Transpose(Tensor x, int axis0 = 0, int axis1 = 1)
    {
        var axes = Enumerable.Range(0, x.Rank).ToArray();
        (axes[axis0], axes[axis1]) = (axes[axis1], axes[axis0]);
        return Permute(x, axes);
    }

    internal static int[] Strides(int[] shape)
    {
        var s = new int[shape.Length];
        var stride = 1;
        for (var i = shape.Length - 1; i >= 0; i--)
        {
            s[i] = stride;
            stride *= shape[i];
        }
        return s;
    }

    // y[i0, i1, …] = x[Σ i_d · strides_d], walking y in order.
    private static void Gather(float[] x, float[] y, int[] shape, int[] strides)
    {
        var total = Tensor.SizeOf(shape);
        var index = new int[shape.Length];
        var offset = 0;
        for (var o = 0; o < total; o++)
        {
            y[o] = x[offset];
            for (var d = shape.Length - 1; d >= 0; d--)
            {
                index[d]++;
                offset += strides[d];
                if (index[d] < shape[d]) break;
                offset -= strides[d] * shape[d];
                index[d] = 0;
            }
        }
    }

    private static void ScatterAdd(float[] y, float[] x, int[] shape, int[] strides)
    {
        var total = Tensor.SizeOf(shape);
        var index = new int[shape.Length];
        var offset = 0;
        for (var o = 0; o < total; o++)
        {
            x[offset] += y[o];
            for (var d = shape.Length - 1; d >= 0; d--)
            {
                index[d]++;
                offset += strides[d];
                if (index[d] < shape[d]) break;
                offset -= strides[d] * shape[d];
                index[d] = 0;
            }
        }
    }
}
