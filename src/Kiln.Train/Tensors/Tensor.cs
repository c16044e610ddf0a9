using System.Text;

namespace Kiln.Train.Tensors;

/// <summary>
/// A dense float32 tensor in row-major order. Tensors made by operations inside a <see cref="Autograd.Tape"/>
/// borrow their buffers from the tape, which returns them when it is disposed: read what you need
/// (a loss value, predictions) before that.
/// </summary>
public sealed class Tensor
{
    public Tensor(int[] shape, float[]? data = null, bool requiresGrad = false)
    {
        Shape = shape;
        Size = SizeOf(shape);
        Data = data ?? new float[Size];
        if (Data.Length < Size) throw new ArgumentException($"data holds {Data.Length} values, shape [{string.Join(", ", shape)}] needs {Size}", nameof(data));
        RequiresGrad = requiresGrad;
    }

    public int[] Shape { get; }
    public float[] Data { get; internal set; }
    public int Size { get; }
    public int Rank => Shape.Length;

    /// <summary>The gradient, once <see cref="Autograd.Tape.Backward"/> reached this tensor.</summary>
    public Tensor? Grad { get; set; }

    public bool RequiresGrad { get; set; }

    /// <summary>Made by an operation (not a parameter or an input).</summary>
    internal bool IsIntermediate { get; set; }

    public string? Name { get; set; }

    public Span<float> Span => Data.AsSpan(0, Size);

    public int Dim(int axis) => Shape[axis < 0 ? Shape.Length + axis : axis];

    [System.Runtime.CompilerServices.IndexerName("At")]
    public float this[params int[] index]
    {
        get => Data[Offset(index)];
        set => Data[Offset(index)] = value;
    }

    private int Offset(int[] index)
    {
        if (index.Length != Shape.Length) throw new ArgumentException($"rank {Shape.Length} tensor indexed with {index.Length} indices");
        var offset = 0;
        for (var i = 0; i < index.Length; i++)
        {
            if ((uint)index[i] >= (uint)Shape[i]) throw new IndexOutOfRangeException($"index {index[i]} out of range for axis {i} of size {Shape[i]}");
            offset = offset * Shape[i] + index[i];
        }
        return offset;
    }

    /// <summary>The single value of a one-element tensor.</summary>
    public float Item() => Size == 1 ? Data[0] : throw new InvalidOperationException($"Item() needs one element, the tensor has {Size}");

    public float[] ToArray() => Span.ToArray();

    public static int SizeOf(ReadOnlySpan<int> shape)
    {
        var n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException("negative dimension");
            n = checked(n * d);
        }
        return n;
    }

    public static Tensor Zeros(params int[] shape) => new(shape);

    public static Tensor FromArray(float[] data, params int[] shape) => new(shape, data);

    public static Tensor Scalar(float value) => new([1], [value]);

    public static bool SameShape(Tensor a, Tensor b) => a.Shape.AsSpan().SequenceEqual(b.Shape);

    public static string ShapeText(ReadOnlySpan<int> shape)
    {
        var sb = new StringBuilder("[");
        for (var i = 0; i < shape.Length; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(shape[i]);
        }
        return sb.Append(']').ToString();
    }

    public override string ToString() => $"Tensor{ShapeText(Shape)}{(Name is null ? "" : " " + Name)}";
}
