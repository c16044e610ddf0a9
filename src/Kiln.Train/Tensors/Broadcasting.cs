
namespace Kiln.Train.Tensors;

/// <summary>
/// NumPy broadcasting: shapes align at the right, and a dimension of 1 stretches. Work proceeds in runs along
/// the last dimension, each input either contiguous (stride 1) or one repeated value (stride 0).
/// </summary>
internal static class Broadcasting
{
    public readonly record struct Run(int Out, int A, int B, int Length, int StrideA, int StrideB);

    public static int[] ResultShape(int[] a, int[] b)
    {
        var rank = Math.Max(a.Length, b.Length);
        var shape = new int[rank];
        for (var i = 0; i < rank; i++)
        {
            var da = i < rank - a.Length ? 1 : a[i - (rank - a.Length)];
            var db = i < rank - b.Length ? 1 : b[i - (rank - b.Length)];
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"shapes {Tensor.ShapeText(a)} and {Tensor.ShapeText(b)} do not broadcast");
            shape[i] = Math.Max(da, db);
        }
        return shape;
    }

    /// <summary>Element strides of <paramref name="shape"/> seen through <paramref name="outShape"/> (0 where it broadcasts).</summary>
    private static int[] Strides(int[] outShape, int[] shape)
    {
        var rank = outShape.Length;
        var strides = new int[rank];
        var stride = 1;
        for (var i = rank - 1; i >= 0; i--)
        {
            var j = i - (rank - shape.Length);
            var d = j < 0 ? 1 : shape[j];
            strides[i] = d == 1 ? 0 : stride;
            stride *= d;
        }
        return strides;
    }

    public static IEnumerable<Run> Runs(int[] outShape, int[] aShape, int[] bShape)
    {
        var rank = outShape.Length;
        var total = Tensor.SizeOf(outShape);
        if (total == 0) yield break;
        if (rank == 0)
        {
            yield return new Run(0, 0, 0, 1, 0, 0);
            yield break;
        }
        var sa = Strides(outShape, aShape);
        var sb = Strides(outShape, bShape);
        var inner = outShape[rank - 1];
        var index = new int[rank];
        int oa = 0, ob = 0;
        for (var o = 0; o < total; o += inner)
        {
            yield return new Run(o, oa, ob, inner, sa[rank - 1], sb[rank - 1]);
            for (var d = rank - 2; d >= 0; d--)
            {
                index[d]++;
                oa += sa[d];
                ob += sb[d];
                if (index[d] < outShape[d]) break;
                oa -= sa[d] * outShape[d];
                ob -= sb[d] * outShape[d];
                index[d] = 0;
            }
        }
    }

    /// <summary>Adds <paramref name="scale"/> × <paramref name="source"/>, summed over broadcast dimensions, into <paramref name="target"/>.</summary>
    public static void SumInto(Tensor source, Tensor target, float scale)
    {
        if (Tensor.SameShape(source, target))
        {
            TensorPrimitives.MultiplyAdd(source.Span, scale, target.Span, target.Span);
            return;
        }
        foreach (var run in Runs(source.Shape, target.Shape, source.Shape))
        {
            var src = source.Data.AsSpan(run.Out, run.Length);
            if (run.StrideA == 1)
            {
                var dst = target.Data.AsSpan(run.A, run.Length);
                TensorPrimitives.MultiplyAdd(src, scale, dst, dst);
            }
            else
            {
                target.Data[run.A] += scale * TensorPrimitives.Sum(src);
            }
        }
    }
}
