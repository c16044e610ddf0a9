using Kiln.Train.Tensors;

namespace Kiln.Train.Autograd;

public static partial class Ops
{
    /// <summary>
    /// Mean cross-entropy of logits [batch, classes] against class indices, through a numerically stable
    /// log-softmax. The backward step is the fused <c>(softmax − one_hot) / batch</c>.
    /// </summary>
    public static Tensor SoftmaxCrossEntropy(Tensor logits, ReadOnlySpan<int> labels)
    {
        if (logits.Rank != 2) throw new ArgumentException($"cross-entropy needs logits [batch, classes], got {logits}");
        int b = logits.Shape[0], c = logits.Shape[1];
        if (labels.Length != b) throw new ArgumentException($"{labels.Length} labels for a batch of {b}");
        using var timed = OpTimes.Measure(OpKind.Loss);
        var probs = Tape.Output([b, c], requiresGrad: false);
        var y = Tape.Output([1], Needs(logits));
        var target = labels.ToArray();
        double total = 0;
        for (var i = 0; i < b; i++)
        {
            var row = logits.Data.AsSpan(i * c, c);
            var p = probs.Data.AsSpan(i * c, c);
            var label = target[i];
            if ((uint)label >= (uint)c) throw new ArgumentException($"label {label} at row {i} is outside [0, {c})");
            var max = TensorPrimitives.Max(row);
            TensorPrimitives.Subtract(row, max, p);
            TensorPrimitives.Exp(p, p);
            var sum = TensorPrimitives.Sum(p);
            TensorPrimitives.Divide(p, sum, p);
            total += Math.Log(sum) + max - row[label];
        }
        y.Data[0] = (float)(total / b);
        if (y.RequiresGrad)
        {
            Tape.Record(() =>
            {
                if (y.Grad is not { } gy) return;
                using var timed = OpTimes.Measure(OpKind.Loss);
                var scale = gy.Data[0] / b;
                var gx = Tape.GradOf(logits).Data;
                for (var i = 0; i < b; i++)
                {
                    var p = probs.Data.AsSpan(i * c, c);
                    var g = gx.AsSpan(i * c, c);
                    TensorPrimitives.MultiplyAdd(p, scale, g, g);
                    g[target[i]] -= scale;
                }
            });
        }
        return y;
    }

    /// <summary>Mean squared error between two tensors of the same shape.</summary>
    public static Tensor Mse(Tensor prediction, Tensor target)
    {
        if (!Tensor.SameShape(prediction, target)) throw new ArgumentException($"mse needs equal shapes, got {prediction} and {target}");
        var diff = Tape.Output(prediction.Shape, requiresGrad: false);
        TensorPrimitives.Subtract(prediction.Span, target.Span, diff.Span);
        var y = Tape.Output([1], Needs(prediction, target));
        y.Data[0] = (float)(TensorPrimitives.SumOfSquares(diff.Span) / (double)diff.Size);
        if (y.RequiresGrad)
        {
            Tape.Record(() =>
            {
                if (y.Grad is not { } gy) return;
                var scale = 2f * gy.Data[0] / diff.Size;
                if (prediction.RequiresGrad)
                {
                    var g = Tape.GradOf(prediction).Span;
                    TensorPrimitives.MultiplyAdd(diff.Span, scale, g, g);
                }
                if (target.RequiresGrad)
                {
                    var g = Tape.GradOf(target).Span;
                    TensorPrimitives.MultiplyAdd(diff.Span, -scale, g, g);
                }
            });
        }
        return y;
    }

    /// <summary>The index of the largest value in each row of [batch, classes] (no gradient).</summary>
    public static int[] ArgMax(Tensor x)
    {
        if (x.Rank != 2) throw new ArgumentException($"argmax needs [batch, classes], got {x}");
        int b = x.Shape[0], c = x.Shape[1];
        var result = new int[b];
        for (var i = 0; i < b; i++) result[i] = TensorPrimitives.IndexOfMax(x.Data.AsSpan(i * c, c));
        return result;
    }
}
