using Kiln.Train.Tensors;

namespace Kiln.Train.Autograd;

public static partial class Ops
{
    private enum Binary { Add, Sub, Mul, Div }

    /// <summary><c>a + b</c>, broadcasting like NumPy.</summary>
    public static Tensor Add(Tensor a, Tensor b) => BinaryOp(a, b, Binary.Add);

    /// <summary><c>a − b</c>, broadcasting like NumPy.</summary>
    public static Tensor Sub(Tensor a, Tensor b) => BinaryOp(a, b, Binary.Sub);

    /// <summary><c>a × b</c> elementwise, broadcasting like NumPy.</summary>
    public static Tensor Mul(Tensor a, Tensor b) => BinaryOp(a, b, Binary.Mul);

    /// <summary><c>a ÷ b</c> elementwise, broadcasting like NumPy.</summary>
    public static Tensor Div(Tensor a, Tensor b) => BinaryOp(a, b, Binary.Div);

    private static Tensor BinaryOp(Tensor a, Tensor b, Binary op)
    {
        var shape = Broadcasting.ResultShape(a.Shape, b.Shape);
        var y = Tape.Output(shape, Needs(a, b));
        Compute(op, a, b, y);
        if (y.RequiresGrad)
        {
            Tape.Record(() =>
            {
                if (y.Grad is not { } gy) return;
                switch (op)
                {
                    case Binary.Add:
                        if (a.RequiresGrad) Broadcasting.SumInto(gy, Tape.GradOf(a), 1f);
                        if (b.RequiresGrad) Broadcasting.SumInto(gy, Tape.GradOf(b), 1f);
                        break;
                    case Binary.Sub:
                        if (a.RequiresGrad) Broadcasting.SumInto(gy, Tape.GradOf(a), 1f);
                        if (b.RequiresGrad) Broadcasting.SumInto(gy, Tape.GradOf(b), -1f);
                        break;
                    case Binary.Mul:
                        if (a.RequiresGrad) Broadcasting.SumInto(Product(gy, b, Binary.Mul), Tape.GradOf(a), 1f);
                        if (b.RequiresGrad) Broadcasting.SumInto(Product(gy, a, Binary.Mul), Tape.GradOf(b), 1f);
                        break;
                    case Binary.Div:
                        if (a.RequiresGrad) Broadcasting.SumInto(Product(gy, b, Binary.Div), Tape.GradOf(a), 1f);
                        if (b.RequiresGrad)
                        {
                            // d(a/b)/db = −a/b² = −y/b
                            var t = Product(Product(gy, y, Binary.Mul), b, Binary.Div);
                            Broadcasting.SumInto(t, Tape.GradOf(b), -1f);
                        }
                        break;
                }
            });
        }
        return y;
    }

    /// <summary>An untracked elementwise product used inside backward steps, shaped like the broadcast result.</summary>
    private static Tensor Product(Tensor a, Tensor b, Binary op)
    {
        var y = Tape.Output(Broadcasting.ResultShape(a.Shape, b.Shape), requiresGrad: false);
        Compute(op, a, b, y);
        return y;
    }

    private static void Compute(Binary op, Tensor a, Tensor b, Tensor y)
    {
        foreach (var run in Broadcasting.Runs(y.Shape, a.Shape, b.Shape))
        {
            var dst = y.Data.AsSpan(run.Out, run.Length);
            if (run.StrideA == 1 && run.StrideB == 1)
            {
                var x1 = a.Data.AsSpan(run.A, run.Length);
                var x2 = b.Data.AsSpan(run.B, run.Length);
                switch (op)
                {
                    case Binary.Add: TensorPrimitives.Add(x1, x2, dst); break;
                    case Binary.Sub: TensorPrimitives.Subtract(x1, x2, dst); break;
                    case Binary.Mul: TensorPrimitives.Multiply(x1, x2, dst); break;
                    default: TensorPrimitives.Divide(x1, x2, dst); break;
                }
            }
            else if (run.StrideA == 1)
            {
                var x1 = a.Data.AsSpan(run.A, run.Length);
                var s = b.Data[run.B];
                switch (op)
                {
                    case Binary.Add: TensorPrimitives.Add(x1, s, dst); break;
                    case Binary.Sub: TensorPrimitives.Subtract(x1, s, dst); break;
                    case Binary.Mul: TensorPrimitives.Multiply(x1, s, dst); break;
                    default: TensorPrimitives.Divide(x1, s, dst); break;
                }
            }
            else if (run.StrideB == 1)
            {
                var s = a.Data[run.A];
                var x2 = b.Data.AsSpan(run.B, run.Length);
                switch (op)
                {
                    case Binary.Add: TensorPrimitives.Add(x2, s, dst); break;
                    case Binary.Sub: TensorPrimitives.Subtract(s, x2, dst); break;
                    case Binary.Mul: TensorPrimitives.Multiply(x2, s, dst); break;
                    default: TensorPrimitives.Divide(s, x2, dst); break;
                }
            }
            else
            {
                var s1 = a.Data[run.A];
                var s2 = b.Data[run.B];
                dst.Fill(op switch { Binary.Add => s1 + s2, Binary.Sub => s1 - s2, Binary.Mul => s1 * s2, _ => s1 / s2 });
            }
        }
    }

    /// <summary><c>x × s</c> for a constant <paramref name="s"/>.</summary>
    public static Tensor Scale(Tensor x, float s)
    {
        var y = Tape.Output(x.Shape, Needs(x));
        TensorPrimitives.Multiply(x.Span, s, y.Span);
        if (y.RequiresGrad)
        {
            Tape.Record(() =>
            {
                if (y.Grad is not { } gy) return;
                var gx = Tape.GradOf(x).Span;
                TensorPrimitives.MultiplyAdd(gy.Span, s, gx, gx);
            });
        }
        return y;
    }

    public static Tensor Relu(Tensor x)
    {
        using var timed = OpTimes.Measure(OpKind.Elementwise);
        var y = Tape.Output(x.Shape, Needs(x));
        TensorPrimitives.Max(x.Span, 0f, y.Span);
        if (y.RequiresGrad)
        {
            Tape.Record(() =>
            {
                if (y.Grad is not { } gy) return;
                using var timed = OpTimes.Measure(OpKind.Elementwise);
                var gx = Tape.GradToWrite(x, out var fresh);
                ReluGradient(x.Span, gy.Span, gx.Span, accumulate: !fresh);
            });
        }
        return y;
    }

    /// <summary>
    /// The ReLU's backward step: <paramref name="gy"/> where <paramref name="x"/> is positive (x is the input, or the
    /// output: both are positive at the same places), 0 elsewhere; added to <paramref name="gx"/> or written into it.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void ReluGradient(ReadOnlySpan<float> x, ReadOnlySpan<float> gy, Span<float> gx, bool accumulate)
    {
        var i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            var n = System.Numerics.Vector<float>.Count;
            for (; i <= x.Length - n; i += n)
            {
                var positive = System.Numerics.Vector.GreaterThan(new System.Numerics.Vector<float>(x[i..]), System.Numerics.Vector<float>.Zero);
                var masked = System.Numerics.Vector.ConditionalSelect(positive, new System.Numerics.Vector<float>(gy[i..]), System.Numerics.Vector<float>.Zero);
                (accumulate ? new System.Numerics.Vector<float>(gx[i..]) + masked : masked).CopyTo(gx[i..]);
            }
        }
        for (; i < x.Length; i++)
        {
            var masked = x[i] > 0f ? gy[i] : 0f;
            gx[i] = accumulate ? gx[i] + masked : masked;
        }
    }

    public static Tensor Tanh(Tensor x)
    {
        var y = Tape.Output(x.Shape, Needs(x));
        TensorPrimitives.Tanh(x.Span, y.Span);
        if (y.RequiresGrad)
        {
            Tape.Record(() =>
            {
                if (y.Grad is not { } gy) return;
                var gx = Tape.GradOf(x).Data;
                for (var i = 0; i < x.Size; i++) gx[i] += gy.Data[i] * (1f - y.Data[i] * y.Data[i]);
            });
        }
        return y;
    }

    public static Tensor Sigmoid(Tensor x)
    {
        var y = Tape.Output(x.Shape, Needs(x));
        TensorPrimitives.Sigmoid(x.Span, y.Span);
        if (y.RequiresGrad)
        {
            Tape.Record(() =>
            {
                if (y.Grad is not { } gy) return;
                var gx = Tape.GradOf(x).Data;
                for (var i = 0; i < x.Size; i++) gx[i] += gy.Data[i] * y.Data[i] * (1f - y.Data[i]);
            });
        }
        return y;
    }

    /// <summary>The exact GELU, <c>x · Φ(x)</c>, as PyTorch computes it by default.</summary>
    public static Tensor Gelu(Tensor x)
    {
        var y = Tape.Output(x.Shape, Needs(x));
        for (var i = 0; i < x.Size; i++)
        {
            double v = x.Data[i];
            y.Data[i] = (float)(0.5 * v * (1.0 + SpecialFunctions.Erf(v / Math.Sqrt(2.0))));
        }
        if (y.RequiresGrad)
        {
            Tape.Record(() =>
            {
                if (y.Grad is not { } gy) return;
                var gx = Tape.GradOf(x).Data;
                for (var i = 0; i < x.Size; i++)
                {
                    double v = x.Data[i];
                    var cdf = 0.5 * (1.0 + SpecialFunctions.Erf(v / Math.Sqrt(2.0)));
                    var pdf = Math.Exp(-0.5 * v * v) / Math.Sqrt(2.0 * Math.PI);
                    gx[i] += (float)(gy.Data[i] * (cdf + v * pdf));
                }
            });
        }
        return y;
    }

    public static Tensor Exp(Tensor x)
    {
        var y = Tape.Output(x.Shape, Needs(x));
        TensorPrimitives.Exp(x.Span, y.Span);
        if (y.RequiresGrad)
        {
            Tape.Record(() =>
            {
                if (y.Grad is not { } gy) return;
                var gx = Tape.GradOf(x).Span;
                TensorPrimitives.FusedMultiplyAdd(gy.Span, y.Span, gx, gx);
            });
        }
        return y;
    }

    public static Tensor Log(Tensor x)
    {
        var y = Tape.Output(x.Shape, Needs(x));
        TensorPrimitives.Log(x.Span, y.Span);
        if (y.RequiresGrad)
        {
            Tape.Record(() =>
            {
                if (y.Grad is not { } gy) return;
                var gx = Tape.GradOf(x).Data;
                for (var i = 0; i < x.Size; i++) gx[i] += gy.Data[i] / x.Data[i];
            });
        }
        return y;
    }
}
