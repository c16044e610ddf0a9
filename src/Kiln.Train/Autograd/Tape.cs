using Kiln.Train.Tensors;

namespace Kiln.Train.Autograd;

/// <summary>
/// Records operations for reverse-mode differentiation, in the order they ran, and owns the buffers of the
/// tensors they made. <see cref="Backward"/> replays the record backwards (creation order is already a
/// topological order); <see cref="Dispose"/> returns every buffer for the next step.
/// <code>
/// using (var tape = new Tape())
/// {
///     var loss = Ops.SoftmaxCrossEntropy(model.Forward(x), labels);
///     tape.Backward(loss);
///     lossValue = loss.Item();
/// }
/// optimizer.Step();
/// </code>
/// A tape created with <c>recordGradients: false</c> only pools buffers (evaluation).
/// </summary>
public sealed class Tape : IDisposable
{
    [ThreadStatic] private static Tape? _current;

    private readonly Tape? _previous;
    private readonly List<Action> _backward = [];
    private readonly List<Tensor> _owned = [];
    private bool _disposed;

    public Tape(bool recordGradients = true)
    {
        RecordsGradients = recordGradients;
        _previous = _current;
        _current = this;
    }

    public bool RecordsGradients { get; }

    public static Tape? Current => _current;

    /// <summary>Whether an operation on an input that requires gradients should record its backward step.</summary>
    internal static bool Recording => _current is { RecordsGradients: true };

    /// <summary>A tensor for an operation's result: pooled when a tape is active.</summary>
    internal static Tensor Output(int[] shape, bool requiresGrad, bool clear = false)
    {
        var tape = _current;
        var size = Tensor.SizeOf(shape);
        if (tape is null) return new Tensor(shape) { RequiresGrad = false };
        var t = new Tensor(shape, BufferPool.Rent(size, clear)) { RequiresGrad = requiresGrad && tape.RecordsGradients, IsIntermediate = true };
        tape._owned.Add(t);
        return t;
    }

    internal static void Record(Action backward) => _current!._backward.Add(backward);

    /// <summary>The gradient buffer of <paramref name="t"/>, created zeroed on first use.</summary>
    internal static Tensor GradOf(Tensor t) => Grad(t, clear: true, out _);

    /// <summary>
    /// The gradient buffer of <paramref name="t"/> for an operation that gives every one of its values a term: when the
    /// buffer is new, <paramref name="fresh"/> is true and its values are not cleared first, so the operation writes
    /// them instead of adding to zeros (one pass over the buffer instead of three); otherwise it adds, as to
    /// <see cref="GradOf"/>'s. Only an intermediate's buffer is left uncleared.
    /// </summary>
    internal static Tensor GradToWrite(Tensor t, out bool fresh) => Grad(t, clear: false, out fresh);

    private static Tensor Grad(Tensor t, bool clear, out bool fresh)
    {
        fresh = false;
        if (t.Grad is { } g) return g;
        if (t.IsIntermediate && _current is { } tape)
        {
            g = new Tensor(t.Shape, BufferPool.Rent(t.Size, clear)) { IsIntermediate = true };
            fresh = !clear;
            tape._owned.Add(g);
        }
        else
        {
            g = new Tensor(t.Shape);
        }
        t.Grad = g;
        return g;
    }

    /// <summary>Back-propagates from a one-element tensor (seeded with 1) through everything recorded.</summary>
    public void Backward(Tensor loss)
    {
        if (loss.Size != 1) throw new ArgumentException($"backward needs a one-element loss, got {loss}", nameof(loss));
        if (!loss.RequiresGrad) throw new InvalidOperationException("the loss does not depend on anything that requires gradients");
        GradOf(loss).Data[0] = 1f;
        for (var i = _backward.Count - 1; i >= 0; i--) _backward[i]();
        _backward.Clear();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var t in _owned)
        {
            BufferPool.Return(t.Data);
            t.Data = [];
            t.Grad = null;
        }
        _owned.Clear();
        _backward.Clear();
        _current = _previous;
    }
}
