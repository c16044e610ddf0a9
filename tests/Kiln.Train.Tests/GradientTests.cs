using Kiln.Train.Autograd;
using Kiln.Train.Tensors;

namespace Kiln.Train.Tests;

/// <summary>Every operation's backward step against central finite differences.</summary>
public sealed class GradientTests
{
    private static Tensor Random(Rng rng, int[] shape, float lo = -1f, float hi = 1f, bool grad = true, float avoid = 0f)
    {
        var t = new Tensor(shape) { RequiresGrad = grad };
        for (var i = 0; i < t.Size; i++)
        {
            float v;
            do v = rng.Uniform(lo, hi);
            while (avoid > 0 && MathF.Abs(v) < avoid);
            t.Data[i] = v;
        }
        return t;
    }

    /// <summary>
    /// Projects the output on fixed random weights (loss = Σ y·r, in double) and compares d loss / d input from the tape
    /// with (loss(x + ε) − loss(x − ε)) / 2ε for every element of every input that requires gradients.
    /// </summary>
    private static void Check(Func<Tensor[], Tensor> f, Tensor[] inputs, double eps = 1e-2, double tolerance = 2e-2)
    {
        var rng = new Rng(99);
        float[]? projection = null;
        double Loss()
        {
            var y = f(inputs);
            projection ??= Enumerable.Range(0, y.Size).Select(_ => rng.Uniform(-1f, 1f)).ToArray();
            double s = 0;
            for (var i = 0; i < y.Size; i++) s += (double)y.Data[i] * projection[i];
            return s;
        }
        Loss();
        foreach (var x in inputs) x.Grad = null;
        var analytic = new List<float[]>();
        using (var tape = new Tape())
        {
            var y = f(inputs);
            var r = new Tensor((int[])y.Shape.Clone(), projection!.ToArray());
            tape.Backward(Ops.Sum(Ops.Mul(y, r)));
            foreach (var x in inputs) analytic.Add(x.RequiresGrad ? x.Grad!.ToArray() : []);
        }
        for (var k = 0; k < inputs.Length; k++)
        {
            var x = inputs[k];
            if (!x.RequiresGrad) continue;
            for (var i = 0; i < x.Size; i++)
            {
                var saved = x.Data[i];
                x.Data[i] = (float)(saved + eps);
                var plus = Loss();
                x.Data[i] = (float)(saved - eps);
                var minus = Loss();
                x.Data[i] = saved;
                var numeric = (plus - minus) / (2 * eps);
                var a = analytic[k][i];
                Assert.True(Math.Abs(numeric - a) <= tolerance * Math.Max(1.0, Math.Abs(numeric)),
                    $"input {k} element {i}: analytic {a}, numeric {numeric}");
            }
        }
    }

    [Fact]
    public void MatMul() => Check(x => Ops.MatMul(x[0], x[1]), [Random(new(1), [3, 5]), Random(new(2), [5, 4])]);

    [Fact]
    public void Linear_with_and_without_bias()
    {
        Check(x => Ops.Linear(x[0], x[1], x[2]), [Random(new(1), [4, 6]), Random(new(2), [3, 6]), Random(new(3), [3])]);
        Check(x => Ops.Linear(x[0], x[1], null), [Random(new(4), [2, 6]), Random(new(5), [3, 6])]);
    }

    [Fact]
    public void Large_products_that_go_through_the_blocked_and_parallel_paths() =>
        Check(x => Ops.Linear(x[0], x[1], x[2]), [Random(new(6), [9, 300], grad: false), Random(new(7), [33, 300]), Random(new(8), [33])], eps: 5e-2, tolerance: 3e-2);

    [Theory]
    [InlineData(new[] { 3, 4 }, new[] { 3, 4 })]
    [InlineData(new[] { 3, 4 }, new[] { 4 })]
    [InlineData(new[] { 3, 1 }, new[] { 1, 4 })]
    [InlineData(new[] { 2, 3, 4 }, new[] { 3, 1 })]
    [InlineData(new[] { 1 }, new[] { 2, 3 })]
    public void Broadcasting_arithmetic(int[] a, int[] b)
    {
        Check(x => Ops.Add(x[0], x[1]), [Random(new(1), a), Random(new(2), b)]);
        Check(x => Ops.Sub(x[0], x[1]), [Random(new(3), a), Random(new(4), b)]);
        Check(x => Ops.Mul(x[0], x[1]), [Random(new(5), a), Random(new(6), b)]);
        Check(x => Ops.Div(x[0], x[1]), [Random(new(7), a), Random(new(8), b, 0.5f, 2f)]);
    }

    [Fact]
    public void Unary_functions()
    {
        Check(x => Ops.Scale(x[0], -2.5f), [Random(new(1), [3, 4])]);
        Check(x => Ops.Relu(x[0]), [Random(new(2), [3, 4], avoid: 0.05f)]);
        Check(x => Ops.Tanh(x[0]), [Random(new(3), [3, 4])]);
        Check(x => Ops.Sigmoid(x[0]), [Random(new(4), [3, 4])]);
        Check(x => Ops.Gelu(x[0]), [Random(new(5), [3, 4], -3f, 3f)]);
        Check(x => Ops.Exp(x[0]), [Random(new(6), [3, 4])]);
        Check(x => Ops.Log(x[0]), [Random(new(7), [3, 4], 0.5f, 3f)]);
    }

    [Fact]
    public void Reductions()
    {
        Check(x => Ops.Sum(x[0]), [Random(new(1), [3, 4])]);
        Check(x => Ops.Mean(x[0]), [Random(new(2), [3, 4])]);
        Check(x => Ops.Sum(x[0], 0), [Random(new(3), [3, 4])]);
        Check(x => Ops.Mean(x[0], 1, keepDim: true), [Random(new(4), [2, 3, 4])]);
        Check(x => Ops.Sum(x[0], -1), [Random(new(5), [2, 3, 4])]);
    }

    [Fact]
    public void Shape_operations()
    {
        Check(x => Ops.Reshape(x[0], 4, -1), [Random(new(1), [2, 3, 4])]);
        Check(x => Ops.Flatten(x[0]), [Random(new(2), [2, 3, 4])]);
        Check(x => Ops.Transpose(x[0]), [Random(new(3), [3, 5])]);
        Check(x => Ops.Permute(x[0], 2, 0, 1), [Random(new(4), [2, 3, 4])]);
    }

    [Fact]
    public void Losses()
    {
        Check(x => Ops.SoftmaxCrossEntropy(x[0], [2, 0, 1, 2]), [Random(new(1), [4, 3], -3f, 3f)]);
        Check(x => Ops.Mse(x[0], x[1]), [Random(new(2), [3, 4]), Random(new(3), [3, 4])]);
    }

    [Fact]
    public void Convolution_with_stride_and_padding()
    {
        Check(x => Ops.Conv2d(x[0], x[1], x[2], stride: 1, padding: 1), [Random(new(1), [2, 3, 5, 5]), Random(new(2), [4, 3, 3, 3]), Random(new(3), [4])]);
        Check(x => Ops.Conv2d(x[0], x[1], null, stride: 2, padding: 0), [Random(new(4), [1, 2, 6, 7]), Random(new(5), [3, 2, 2, 3])]);
    }

    [Fact]
    public void Convolution_of_a_batch_split_into_parts()
    {
        // Eleven samples make a full part of eight and a partial one; one input channel (9 unrolled rows) takes the
        // dot-product weight gradient, sixteen (144 rows) the matrix product; 'same' padding shifts whole rows.
        Check(x => Ops.Conv2d(x[0], x[1], x[2], stride: 1, padding: 1), [Random(new(1), [11, 1, 5, 6]), Random(new(2), [3, 1, 3, 3]), Random(new(3), [3])]);
        Check(x => Ops.Conv2d(x[0], x[1], x[2], stride: 1, padding: 1), [Random(new(4), [9, 16, 4, 4]), Random(new(5), [2, 16, 3, 3]), Random(new(6), [2])], tolerance: 3e-2);
    }

    [Fact]
    public void Convolution_weight_gradient_in_blocks_and_chunks()
    {
        // The weight gradient's dot products: 6 outputs × 18 unrolled rows make 4×6 blocks and an edge; 8×8 images,
        // nine samples, give a part 512 columns and a partial one 64. (Rows longer than a chunk: the row-dot test's 4,200.)
        Check(x => Ops.Conv2d(x[0], x[1], x[2], stride: 1, padding: 1), [Random(new(1), [9, 2, 8, 8], grad: false), Random(new(2), [6, 2, 3, 3]), Random(new(3), [6])], tolerance: 3e-2);
    }

    [Theory]
    [InlineData(4, 4, 16)]
    [InlineData(6, 18, 512)]
    [InlineData(5, 9, 1000)]
    [InlineData(3, 2, 7)]
    [InlineData(5, 12, 100)]
    [InlineData(8, 15, 64)]
    [InlineData(9, 144, 4200)]
    public unsafe void Row_dot_products_match_a_double_reference(int m, int rows, int n)
    {
        var rng = new Rng(5);
        var a = new float[m * (n + 3)];
        var b = new float[rows * (n + 1)];
        rng.FillUniform(a, -1, 1);
        rng.FillUniform(b, -1, 1);
        var d = new float[m * (rows + 2)];
        var scratch = new float[Kiln.Train.Compute.RowDots.ScratchSize(m, rows)];
        fixed (float* pa = a, pb = b, pd = d, ps = scratch)
        {
            Kiln.Train.Compute.RowDots.Compute(pa, n + 3, pb, n + 1, m, rows, n, pd, rows + 2, ps);
        }
        for (var i = 0; i < m; i++)
        for (var r = 0; r < rows; r++)
        {
            double s = 0;
            for (var j = 0; j < n; j++) s += (double)a[i * (n + 3) + j] * b[r * (n + 1) + j];
            Assert.True(Math.Abs(s - d[i * (rows + 2) + r]) <= 1e-4 * Math.Max(1, Math.Sqrt(n)), $"({i}, {r}): {d[i * (rows + 2) + r]} against {s}");
        }
    }

    [Fact]
    public void Convolution_edge_geometries()
    {
        // Padding wider than the kernel reaches (rows and columns that see only zeros), a 1×1 kernel, and a 5×5 'same' kernel.
        Check(x => Ops.Conv2d(x[0], x[1], x[2], stride: 1, padding: 3), [Random(new(1), [2, 2, 3, 4]), Random(new(2), [2, 2, 2, 2]), Random(new(3), [2])]);
        Check(x => Ops.Conv2d(x[0], x[1], null, stride: 1, padding: 0), [Random(new(4), [3, 4, 3, 3]), Random(new(5), [5, 4, 1, 1])]);
        Check(x => Ops.Conv2d(x[0], x[1], null, stride: 1, padding: 2), [Random(new(6), [2, 2, 6, 5]), Random(new(7), [2, 2, 5, 5])]);
        Check(x => Ops.Conv2d(x[0], x[1], null, stride: 3, padding: 2), [Random(new(8), [2, 2, 7, 8]), Random(new(9), [3, 2, 3, 2])]);
        // Rows as wide as the input but fewer of them (a 5×3 kernel with padding 1): whole-row shifts with a shorter output.
        Check(x => Ops.Conv2d(x[0], x[1], x[2], stride: 1, padding: 1), [Random(new(10), [2, 2, 7, 6]), Random(new(11), [3, 2, 5, 3]), Random(new(12), [3])]);
    }

    [Fact]
    public void Fused_convolution_and_relu_give_the_bits_of_the_two_steps()
    {
        (int[] Y, int[] Gx, int[] Gw, int[] Gb) Run(bool fused)
        {
            var x = Random(new(1), [10, 3, 6, 6]);
            var w = Random(new(2), [4, 3, 3, 3]);
            var b = Random(new(3), [4]);
            using var tape = new Tape();
            var y = fused ? Ops.Conv2dRelu(x, w, b, padding: 1) : Ops.Relu(Ops.Conv2d(x, w, b, padding: 1));
            var r = Random(new(4), [10, 4, 6, 6], grad: false);
            tape.Backward(Ops.Sum(Ops.Mul(y, r)));
            static int[] Bits(Tensor t) => t.ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();
            return (Bits(y), Bits(x.Grad!), Bits(w.Grad!), Bits(b.Grad!));
        }
        var (fused, separate) = (Run(true), Run(false));
        Assert.Contains(fused.Y, v => v == 0);
        Assert.Equal(separate.Y, fused.Y);
        Assert.Equal(separate.Gx, fused.Gx);
        Assert.Equal(separate.Gw, fused.Gw);
        Assert.Equal(separate.Gb, fused.Gb);
        Check(x => Ops.Conv2dRelu(x[0], x[1], x[2], padding: 1), [Random(new(5), [2, 2, 4, 4]), Random(new(6), [3, 2, 3, 3]), Random(new(7), [3], 0.5f, 1f)], eps: 1e-3);
    }

    [Theory]
    [InlineData(2, true, 8)]
    [InlineData(2, true, 12)]
    [InlineData(2, true, 36)]
    [InlineData(2, true, 7)]
    [InlineData(3, true, 8)]
    [InlineData(2, false, 8)]
    public void Fused_convolution_relu_and_pooling_give_the_bits_of_the_three_steps(int pool, bool withBias, int side)
    {
        // 10 samples: a full part of 8 and a short one. 2×2 windows take the vector path (12: full vectors and a tail;
        // 36: pooled rows wider than one vector; 7: an odd side, whose last row and column no window covers); 3×3 windows
        // on 8×8 take the scalar path and leave rows and columns outside every window too.
        (int[] Y, int[] Gx, int[] Gw, int[]? Gb) Run(bool fused)
        {
            var x = Random(new(1), [10, 3, side, side]);
            var w = Random(new(2), [4, 3, 3, 3]);
            // Mostly negative biases give windows whose maximum the ReLU clamps, even for 3×3 windows.
            var b = withBias ? Random(new(3), [4], -2f, 0.5f) : null;
            using var tape = new Tape();
            var y = fused ? Ops.Conv2dReluMaxPool(x, w, b, pool, padding: 1) : Ops.MaxPool2d(Ops.Relu(Ops.Conv2d(x, w, b, padding: 1)), pool);
            var r = Random(new(4), y.Shape, grad: false);
            tape.Backward(Ops.Sum(Ops.Mul(y, r)));
            static int[] Bits(Tensor t) => t.ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();
            return (Bits(y), Bits(x.Grad!), Bits(w.Grad!), b is null ? null : Bits(b.Grad!));
        }
        var (fused, separate) = (Run(true), Run(false));
        Assert.Contains(fused.Y, v => v == 0);
        Assert.Contains(fused.Y, v => v != 0);
        Assert.Equal(separate.Y, fused.Y);
        Assert.Equal(separate.Gx, fused.Gx);
        Assert.Equal(separate.Gw, fused.Gw);
        Assert.Equal(separate.Gb, fused.Gb);
    }

    [Fact]
    public void Gradients_written_fresh_then_added_by_a_second_use()
    {
        // An intermediate used twice: the first backward step to reach it writes its gradient into an uncleared pooled
        // buffer, the second adds. Each check runs twice, so the second finds buffers the first left full of gradients.
        static Tensor ConvThenRelu(Tensor[] x)
        {
            var h = Ops.Scale(x[0], 1.5f);
            var pooled = Ops.Conv2dReluMaxPool(h, x[1], x[2], 2, padding: 1);
            var r = Ops.Relu(h);
            return Ops.Add(Ops.Sum(pooled), Ops.Sum(Ops.Mul(r, r)));
        }
        static Tensor ReluThenConv(Tensor[] x)
        {
            var h = Ops.Scale(x[0], 1.5f);
            var r = Ops.Relu(h);
            var pooled = Ops.Conv2dReluMaxPool(h, x[1], x[2], 2, padding: 1);
            return Ops.Add(Ops.Sum(Ops.Mul(r, r)), Ops.Sum(pooled));
        }
        static Tensor LinearAndRelu(Tensor[] x)
        {
            var h = Ops.Scale(x[0], 1.5f);
            var y = Ops.Linear(Ops.Flatten(h), x[1], x[2]);
            return Ops.Add(Ops.Sum(Ops.Mul(y, y)), Ops.Sum(Ops.Relu(h)));
        }
        for (var round = 0; round < 2; round++)
        {
            Check(ConvThenRelu, [Random(new(5), [2, 2, 5, 4]), Random(new(6), [3, 2, 3, 3]), Random(new(7), [3], 0.5f, 1f)], eps: 1e-3);
            Check(ReluThenConv, [Random(new(5), [2, 2, 5, 4]), Random(new(6), [3, 2, 3, 3]), Random(new(7), [3], 0.5f, 1f)], eps: 1e-3);
            Check(LinearAndRelu, [Random(new(4), [3, 2, 3, 3]), Random(new(5), [4, 18]), Random(new(6), [4])], eps: 1e-3);
        }
    }

    [Fact]
    public void Fused_convolution_relu_and_pooling_gradients() =>
        // Positive biases keep most windows' maxima active, so the check covers the scatter and not only zeros.
        Check(x => Ops.Conv2dReluMaxPool(x[0], x[1], x[2], 2, padding: 1),
            [Random(new(5), [2, 2, 5, 4]), Random(new(6), [3, 2, 3, 3]), Random(new(7), [3], 0.5f, 1f)], eps: 1e-3);

    [Fact]
    public void Max_pooling()
    {
        // Distinct values keep every window's maximum away from ties.
        var x = new Tensor([2, 2, 4, 6]) { RequiresGrad = true };
        var order = Enumerable.Range(0, x.Size).ToArray();
        new Rng(1).Shuffle(order.AsSpan());
        for (var i = 0; i < x.Size; i++) x.Data[i] = order[i] * 0.1f;
        Check(t => Ops.MaxPool2d(t[0], 2), [x], eps: 1e-2);
        Check(t => Ops.MaxPool2d(t[0], 3, stride: 1), [x], eps: 1e-2);
        Check(t => Ops.MaxPool2d(t[0], 2, stride: 1), [x], eps: 1e-2);
        // An odd size leaves the last row and column out of every 2×2 window: they get no gradient.
        var odd = new Tensor([1, 3, 5, 5]) { RequiresGrad = true };
        var values = Enumerable.Range(0, odd.Size).ToArray();
        new Rng(2).Shuffle(values.AsSpan());
        for (var i = 0; i < odd.Size; i++) odd.Data[i] = values[i] * 0.1f;
        Check(t => Ops.MaxPool2d(t[0], 2), [odd], eps: 1e-2);
    }

    [Fact]
    public void Layer_norm() =>
        Check(x => Ops.LayerNorm(x[0], x[1], x[2]), [Random(new(1), [3, 6], -2f, 2f), Random(new(2), [6]), Random(new(3), [6])], eps: 1e-2, tolerance: 3e-2);

    [Fact]
    public void Dropout_with_a_fixed_mask() =>
        Check(x => Ops.Dropout(x[0], 0.3f, new Rng(7), training: true), [Random(new(1), [4, 5])]);

    [Fact]
    public void A_tensor_used_twice_receives_both_gradients() =>
        Check(x => Ops.Mul(Ops.Add(x[0], x[0]), x[0]), [Random(new(1), [2, 3])]);
}
