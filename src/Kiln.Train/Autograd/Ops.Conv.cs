using System.Diagnostics;
using Kiln.Train.Compute;
using Kiln.Train.Tensors;

namespace Kiln.Train.Autograd;

public static partial class Ops
{
    /// <summary>
    /// Samples per part of a convolution. The batch is cut into parts of this fixed size whatever the thread count,
    /// and each part's weight gradient is summed separately before the parts are added in order, so the result is
    /// bit-identical on one thread or two. Eight samples of the trial CNN's widest layer unroll to 0.9 MB, which
    /// stays in a core's L2 cache, and give the matrix products 8·H·W columns (a whole number of micro-tiles).
    /// </summary>
    private const int ConvSamplesPerPart = 8;

    /// <summary>Below this many unrolled rows the weight gradient is computed as dot products rather than a matrix product.</summary>
    private const int SmallWeightRows = 32;

    /// <summary>
    /// 2-D convolution of x [batch, in, h, w] with weight [out, in, kh, kw] (and bias [out]) via im2col: the receptive
    /// fields of a few samples are unrolled side by side into one [in·kh·kw, samples·out_h·out_w] matrix, so each part
    /// of the batch is one matrix product; the parts run on <see cref="Workers"/>. The backward step unrolls again
    /// (cheaper than keeping the unrolled batch) and gives each part one product for the weight gradient and one for
    /// the input gradient.
    /// </summary>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int stride = 1, int padding = 0) =>
        Conv2d(x, weight, bias, stride, padding, relu: false);

    /// <summary>
    /// <c>Relu(Conv2d(x, weight, bias))</c> in one step, with the same bits: the activation is applied while each part's
    /// product moves into place, and its gradient mask while the output gradient moves back, so the large
    /// pre-activation tensor is never written, read again, or given a gradient of its own.
    /// </summary>
    public static Tensor Conv2dRelu(Tensor x, Tensor weight, Tensor? bias, int stride = 1, int padding = 0) =>
        Conv2d(x, weight, bias, stride, padding, relu: true);

    private static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int stride, int padding, bool relu)
    {
        if (x.Rank != 4 || weight.Rank != 4 || x.Shape[1] != weight.Shape[1])
            throw new ArgumentException($"conv2d needs x [batch, in, h, w] and weight [out, in, kh, kw], got {x} and {weight}");
        if (stride < 1 || padding < 0) throw new ArgumentException("conv2d needs stride >= 1 and padding >= 0");
        int b = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        int o = weight.Shape[0], kh = weight.Shape[2], kw = weight.Shape[3];
        var oh = (h + 2 * padding - kh) / stride + 1;
        var ow = (w + 2 * padding - kw) / stride + 1;
        if (oh <= 0 || ow <= 0) throw new ArgumentException($"conv2d: a {kh}x{kw} kernel does not fit {h}x{w} with padding {padding}");
        if (bias is not null && (bias.Rank != 1 || bias.Shape[0] != o)) throw new ArgumentException($"bias must be [{o}], got {bias}");
        var g = new ConvGeometry(c, h, w, kh, kw, stride, padding, oh, ow);
        using (OpTimes.Measure(OpKind.ConvForward))
        {
            var y = Tape.Output([b, o, oh, ow], Needs(x, weight) || (bias is not null && Needs(bias)));
            Workers.Run(Parts(b), part => ConvForwardPart(x, weight, bias, g, relu, y, part));
            if (y.RequiresGrad) Tape.Record(() => ConvBackward(x, weight, bias, g, relu, y));
            return y;
        }
    }

    private static int Parts(int batch) => (batch + ConvSamplesPerPart - 1) / ConvSamplesPerPart;

    private static unsafe void ConvForwardPart(Tensor x, Tensor weight, Tensor? bias, ConvGeometry g, bool relu, Tensor y, int part)
    {
        var (n0, count) = PartSamples(part, x.Shape[0]);
        int o = weight.Shape[0], rows = g.Rows, hw = g.Positions, cols = count * hw;
        var unrolled = BufferPool.Rent(rows * ConvSamplesPerPart * hw, clear: false);
        var product = BufferPool.Rent(o * ConvSamplesPerPart * hw, clear: false);
        fixed (float* px = x.Data, pu = unrolled)
        {
            for (var i = 0; i < count; i++) Im2Col.Unroll(px + (long)(n0 + i) * g.InputSize, g, pu + i * hw, cols);
        }
        Gemm.Sgemm(false, false, o, cols, rows, 1f, weight.Data, 0, rows, unrolled, 0, cols, 0f, product, 0, cols);
        // The product is [out, samples·hw]; NCHW wants [samples, out, hw]: each row block moves once, with the bias added on the way.
        for (var i = 0; i < count; i++)
        for (var f = 0; f < o; f++)
        {
            var src = product.AsSpan(f * cols + i * hw, hw);
            var dst = y.Data.AsSpan(((n0 + i) * o + f) * hw, hw);
            if (bias is null) src.CopyTo(dst);
            else TensorPrimitives.Add(src, bias.Data[f], dst);
            if (relu) TensorPrimitives.Max(dst, 0f, dst);
        }
        BufferPool.Return(product);
        BufferPool.Return(unrolled);
    }

    private static void ConvBackward(Tensor x, Tensor weight, Tensor? bias, ConvGeometry g, bool relu, Tensor y)
    {
        if (y.Grad is not { } gy) return;
        var start = Stopwatch.GetTimestamp();
        int b = x.Shape[0], o = weight.Shape[0], parts = Parts(b);
        // Each part's weight and bias gradients land in their own rows, summed in part order below.
        var weightParts = weight.RequiresGrad ? Tape.Output([parts, o * g.Rows], requiresGrad: false) : null;
        var biasParts = bias is { RequiresGrad: true } ? Tape.Output([parts, o], requiresGrad: false) : null;
        var gx = x.RequiresGrad ? Tape.GradOf(x) : null;
        var work = new long[2];
        Workers.Run(parts, part => ConvBackwardPart(x, weight, g, relu ? y : null, gy, gx, weightParts, biasParts, part, work));
        if (weightParts is not null) SumRows(weightParts, Tape.GradOf(weight).Span);
        if (biasParts is not null) SumRows(biasParts, Tape.GradOf(bias!).Span);
        OpTimes.AddShares(start, OpKind.ConvBackwardWeights, work[0], OpKind.ConvBackwardData, work[1]);
    }

    private static unsafe void ConvBackwardPart(Tensor x, Tensor weight, ConvGeometry g, Tensor? reluOutput, Tensor gy, Tensor? gx,
        Tensor? weightParts, Tensor? biasParts, int part, long[] work)
    {
        var timed = OpTimes.Enabled;
        var t0 = timed ? Stopwatch.GetTimestamp() : 0;
        var (n0, count) = PartSamples(part, x.Shape[0]);
        int o = weight.Shape[0], rows = g.Rows, hw = g.Positions, cols = count * hw;
        // The output gradient as [out, samples·hw], the layout of the forward product (through the ReLU's mask when fused).
        var gyT = BufferPool.Rent(o * ConvSamplesPerPart * hw, clear: false);
        for (var i = 0; i < count; i++)
        for (var f = 0; f < o; f++)
        {
            var at = ((n0 + i) * o + f) * hw;
            var dst = gyT.AsSpan(f * cols + i * hw, hw);
            if (reluOutput is null) gy.Data.AsSpan(at, hw).CopyTo(dst);
            else ReluGradient(reluOutput.Data.AsSpan(at, hw), gy.Data.AsSpan(at, hw), dst, accumulate: false);
        }
        var unrolled = BufferPool.Rent(rows * ConvSamplesPerPart * hw, clear: false);
        fixed (float* px = x.Data, pu = unrolled)
        {
            if (weightParts is not null)
            {
                for (var i = 0; i < count; i++) Im2Col.Unroll(px + (long)(n0 + i) * g.InputSize, g, pu + i * hw, cols);
                if (rows < SmallWeightRows)
                {
                    // A first layer's few rows (1 channel × 3×3 = 9) would fill a fraction of each micro-tile: plain dot products run ~10× faster.
                    for (var f = 0; f < o; f++)
                    for (var r = 0; r < rows; r++)
                        weightParts.Data[(part * o + f) * rows + r] = TensorPrimitives.Dot(gyT.AsSpan(f * cols, cols), unrolled.AsSpan(r * cols, cols));
                }
                else
                {
                    Gemm.Sgemm(false, true, o, rows, cols, 1f, gyT, 0, cols, unrolled, 0, cols, 0f, weightParts.Data, part * o * rows, rows);
                }
            }
            if (biasParts is not null)
            {
                for (var f = 0; f < o; f++) biasParts.Data[part * o + f] = TensorPrimitives.Sum(gyT.AsSpan(f * cols, cols));
            }
            var t1 = timed ? Stopwatch.GetTimestamp() : 0;
            if (gx is not null)
            {
                Gemm.Sgemm(true, false, rows, cols, o, 1f, weight.Data, 0, rows, gyT, 0, cols, 0f, unrolled, 0, cols);
                fixed (float* pgx = gx.Data)
                {
                    for (var i = 0; i < count; i++) Im2Col.FoldAdd(pu + i * hw, cols, g, pgx + (long)(n0 + i) * g.InputSize);
                }
            }
            if (timed)
            {
                Interlocked.Add(ref work[0], t1 - t0);
                Interlocked.Add(ref work[1], Stopwatch.GetTimestamp() - t1);
            }
        }
        BufferPool.Return(unrolled);
        BufferPool.Return(gyT);
    }

    private static (int First, int Count) PartSamples(int part, int batch)
    {
        var first = part * ConvSamplesPerPart;
        return (first, Math.Min(ConvSamplesPerPart, batch - first));
    }

    /// <summary>Adds the rows of <paramref name="parts"/> [parts, n] to <paramref name="into"/>, first row first.</summary>
    private static void SumRows(Tensor parts, Span<float> into)
    {
        var n = parts.Shape[1];
        for (var r = 0; r < parts.Shape[0]; r++) TensorPrimitives.Add(into, parts.Data.AsSpan(r * n, n), into);
    }
}
