using Kiln.Train.Tensors;

namespace Kiln.Train.Autograd;

public static partial class Ops
{
    /// <summary>The sum of all values, as a one-element tensor.</summary>
    public static Tensor Sum(Tensor x) => SumAll(x, 1f);

    /// <summary>The mean of all values, as a one-element tensor.</summary>
    public static Tensor Mean(Tensor x) => SumAll(x, 1f / x.Size);

    private static Tensor SumAll(Tensor x, float scale)
    {
        var y = Tape.Output([1], Needs(x));
        y.Data[0] = (float)(Accumulate(x.Span) * scale);
        if (y.RequiresGrad)
        {
            Tape.Record(() =>
            {
                if (y.Grad is not { } gy) return;
                var gx = Tape.GradOf(x).Span;
                TensorPrimitives.Add(gx, gy.Data[0] * scale, gx);
            });
        }
        return y;
    }

    /// <summary>Sum along <paramref name="axis"/>; the axis is kept with size 1 when <paramref name="keepDim"/>.</summary>
    public static Tensor Sum(Tensor x, int axis, bool keepDim = false) => SumAxis(x, axis, keepDim, 1f);

    /// <summary>Mean along <paramref name="axis"/>.</summary>
    public static Tensor Mean(Tensor x, int axis, bool keepDim = false)
    {
        var a = axis < 0 ? x.Rank + axis : axis;
        return SumAxis(x, axis, keepDim, 1f / x.Shape[a]);
    }

    private static Tensor SumAxis(Tensor x, int axis, bool keepDim, float scale)
    {
        var a = axis < 0 ? x.Rank + axis : axis;
        if (a < 0 || a >= x.Rank) throw new ArgumentException($"axis {axis} is out of range for {x}");
        int outer = 1, inner = 1, n = x.Shape[a];
        for (var i = 0; i < a; i++) outer *= x.Shape[i];
        for (var i = a + 1; i < x.Rank; i++) inner *= x.Shape[i];
        var shape = keepDim
            ? x.Shape.Select((d, i) => i == a ? 1 : d).ToArray()
            : x.Shape.Where((_, i) => i != a).ToArray();
        if (shape.Length == 0) shape = [1];
        var y = Tape.Output(shape, Needs(x), clear: true);
        for (var o = 0; o < outer; o++)
        {
            var dst = y.Data.AsSpan(o * inner, inner);
            for (var j = 0; j < n; j++) TensorPrimitives.Add(dst, x.Data.AsSpan((o * n + j) * inner, inner), dst);
            if (scale != 1f) TensorPrimitives.Multiply(dst, scale, dst);
        }
        if (y.RequiresGrad)
        {
            Tape.Record(() =>
            {
                if (y.Grad is not { } gy) return;
                var gx = Tape.GradOf(x).Data;
                for (var o = 0; o < outer; o++)
                {
                    var src = gy.Data.AsSpan(o * inner, inner);
                    for (var j = 0; j < n; j++)
                    {
                        var dst = gx.AsSpan((o * n + j) * inner, inner);
                        TensorPrimitives.MultiplyAdd(src, scale, dst, dst);
                    }
                }
            });
        }
        return y;
    }

    /// <summary>A sum in double precision, in a fixed order, so results repeat exactly.</summary>
    internal static double Accumulate(ReadOnlySpan<float> values)
    {
        double total = 0;
        foreach (var v in values) total += v;
        return total;
    }
}
