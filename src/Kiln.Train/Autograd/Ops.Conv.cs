using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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

    /// <summary>
    /// 2-D convolution of x [batch, in, h, w] with weight [out, in, kh, kw] (and bias [out]) via im2col: the receptive
    /// fields of a few samples are unrolled side by side into one [in·kh·kw, samples·out_h·out_w] matrix, so each part
    /// of the batch is one matrix product; the parts run on <see cref="Workers"/>. The backward step unrolls again
    /// (cheaper than keeping the unrolled batch) and gives each part the weight gradient as dot products between the
    /// rows of its output gradient and of its unrolled input (<see cref="RowDots"/>: both are read as they lie, where a
    /// matrix product would transpose one of them into panels first), and one product for the input gradient.
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

    /// <summary>
    /// <c>MaxPool2d(Relu(Conv2d(x, weight, bias)), pool)</c> with non-overlapping <paramref name="pool"/>×<paramref name="pool"/>
    /// windows, in one step and with the same bits. Each part pools its product while it is still in the core's cache, so
    /// the full-size convolution output is never written: only the pooled values and each window's winner. The ReLU
    /// commutes with the maximum (it is monotone), so pooling the pre-activations and then clamping gives the same values
    /// and, where the gradient is not masked to zero, the same winner (the first of equals). The backward pass writes
    /// each pooled gradient straight into the part's output-gradient matrix.
    /// </summary>
    public static Tensor Conv2dReluMaxPool(Tensor x, Tensor weight, Tensor? bias, int pool, int stride = 1, int padding = 0)
    {
        if (pool < 1) throw new ArgumentException("max-pool needs kernel >= 1");
        return Conv2d(x, weight, bias, stride, padding, relu: true, pool);
    }

    private static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int stride, int padding, bool relu, int pool = 0)
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
        if (pool > 0 && (oh < pool || ow < pool)) throw new ArgumentException($"max-pool: a {pool}x{pool} window does not fit {oh}x{ow}");
        var g = new ConvGeometry(c, h, w, kh, kw, stride, padding, oh, ow);
        var p = new ConvPooling(pool, pool > 0 ? oh / pool : oh, pool > 0 ? ow / pool : ow);
        using (OpTimes.Measure(OpKind.ConvForward))
        {
            var y = Tape.Output([b, o, p.Height, p.Width], Needs(x, weight) || (bias is not null && Needs(bias)));
            // Each pooled value's winner as a position in its convolution output plane: ints in a pooled float buffer
            // (the tape pools floats only); nothing reads them as floats.
            var winners = pool > 0 ? Tape.Output([y.Size], requiresGrad: false) : null;
            Workers.Run(Parts(b), part => ConvForwardPart(x, weight, bias, g, relu, p, y, winners, part));
            if (y.RequiresGrad) Tape.Record(() => ConvBackward(x, weight, bias, g, relu, p, y, winners));
            return y;
        }
    }

    /// <summary>The max-pooling fused into a convolution's output: window size (0 for none) and the pooled plane's size.</summary>
    private readonly record struct ConvPooling(int Kernel, int Height, int Width)
    {
        public int Positions => Height * Width;
    }

    private static int Parts(int batch) => (batch + ConvSamplesPerPart - 1) / ConvSamplesPerPart;

    private static unsafe void ConvForwardPart(Tensor x, Tensor weight, Tensor? bias, ConvGeometry g, bool relu, ConvPooling pool, Tensor y,
        Tensor? winners, int part)
    {
        var (n0, count) = PartSamples(part, x.Shape[0]);
        int o = weight.Shape[0], rows = g.Rows, hw = g.Positions, cols = count * hw;
        var (unrolled, uo) = RentAligned(rows * ConvSamplesPerPart * hw, clear: false);
        var (product, po) = RentAligned(o * ConvSamplesPerPart * hw, clear: false);
        fixed (float* px = x.Data, pu = unrolled)
        {
            Im2Col.Unroll(px + (long)n0 * g.InputSize, count, g, pu + uo, cols);
        }
        Gemm.Sgemm(false, false, o, cols, rows, 1f, weight.Data, 0, rows, unrolled, uo, cols, 0f, product, po, cols);
        if (winners is not null)
        {
            var at = MemoryMarshal.Cast<float, int>(winners.Data.AsSpan());
            var pooled = pool.Positions;
            for (var i = 0; i < count; i++)
            for (var f = 0; f < o; f++)
            {
                var to = ((n0 + i) * o + f) * pooled;
                PoolBiasRelu(product.AsSpan(po + f * cols + i * hw, hw), bias?.Data[f] ?? 0f, g.OW, pool,
                    y.Data.AsSpan(to, pooled), at.Slice(to, pooled));
            }
            BufferPool.Return(product);
            BufferPool.Return(unrolled);
            return;
        }
        // The product is [out, samples·hw]; NCHW wants [samples, out, hw]: each row block moves once, with the bias added on the way.
        for (var i = 0; i < count; i++)
        for (var f = 0; f < o; f++)
        {
            var src = product.AsSpan(po + f * cols + i * hw, hw);
            var dst = y.Data.AsSpan(((n0 + i) * o + f) * hw, hw);
            if (bias is null) src.CopyTo(dst);
            else TensorPrimitives.Add(src, bias.Data[f], dst);
            if (relu) TensorPrimitives.Max(dst, 0f, dst);
        }
        BufferPool.Return(product);
        BufferPool.Return(unrolled);
    }

    /// <summary>
    /// Max over the non-overlapping windows of one output plane of the product, with the bias added and the ReLU applied
    /// to the maximum; <paramref name="at"/> gets each window's winner (first of equals, as <see cref="MaxPool2d"/>).
    /// With the bias absent it adds 0, which changes at most the sign of a zero that the ReLU clamps anyway.
    /// </summary>
    private static void PoolBiasRelu(ReadOnlySpan<float> plane, float bias, int width, ConvPooling pool, Span<float> dst, Span<int> at)
    {
        var k = pool.Kernel;
        if (k == 2 && Avx512F.IsSupported)
        {
            Pool2x2BiasRelu(plane, bias, width, pool, dst, at);
            return;
        }
        for (var py = 0; py < pool.Height; py++)
        {
            var row = py * k * width;
            for (var px = 0; px < pool.Width; px++)
            {
                var o = py * pool.Width + px;
                var i = row + px * k;
                var best = float.NegativeInfinity;
                var where = i;
                for (var ki = 0; ki < k; ki++)
                for (var kj = 0; kj < k; kj++)
                {
                    var q = i + ki * width + kj;
                    var v = plane[q] + bias;
                    if (v > best)
                    {
                        best = v;
                        where = q;
                    }
                }
                dst[o] = Math.Max(best, 0f);
                at[o] = where;
            }
        }
    }

    /// <summary>
    /// 2×2 windows in 512-bit lanes, 16 windows of a pooled row at a time. Which of four values wins is random, so scalar
    /// code mispredicts a branch per comparison (~5 ns per input value measured); here comparisons are masks. The two
    /// input rows of the windows are read 32 values each and split into left and right values, then each row's pair
    /// and the two rows are compared: the tree of <see cref="MaxPool2d"/>'s 2×2 case (left before right, top before
    /// bottom, strictly greater wins), so the same values and winners.
    /// </summary>
    private static unsafe void Pool2x2BiasRelu(ReadOnlySpan<float> plane, float bias, int width, ConvPooling pool, Span<float> dst, Span<int> at)
    {
        var evens = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        var odds = evens + Vector512<int>.One;
        var vb = Vector512.Create(bias);
        var one = Vector512<int>.One;
        var below = Vector512.Create(width);
        fixed (float* src = plane, pd = dst)
        fixed (int* pa = at)
        {
            for (var py = 0; py < pool.Height; py++)
            for (var px = 0; px < pool.Width; px += 16)
            {
                var lanes = Math.Min(16, pool.Width - px);
                var take = Lanes.First(lanes);
                var low = Lanes.First(2 * lanes).AsSingle();
                var high = Lanes.First(2 * lanes - 16).AsSingle();
                var first = 2 * py * width + 2 * px;
                var top = src + first;
                var t0 = Avx512F.MaskLoad(top, low, Vector512<float>.Zero);
                var t1 = Avx512F.MaskLoad(top + 16, high, Vector512<float>.Zero);
                var b0 = Avx512F.MaskLoad(top + width, low, Vector512<float>.Zero);
                var b1 = Avx512F.MaskLoad(top + width + 16, high, Vector512<float>.Zero);
                var leftAt = evens + Vector512.Create(first);
                var tl = Avx512F.PermuteVar16x32x2(t0, evens, t1) + vb;
                var tr = Avx512F.PermuteVar16x32x2(t0, odds, t1) + vb;
                var bl = Avx512F.PermuteVar16x32x2(b0, evens, b1) + vb;
                var br = Avx512F.PermuteVar16x32x2(b0, odds, b1) + vb;
                var topRight = Vector512.GreaterThan(tr, tl);
                var topMax = Vector512.ConditionalSelect(topRight, tr, tl);
                var topAt = Vector512.ConditionalSelect(topRight.AsInt32(), leftAt + one, leftAt);
                var bottomRight = Vector512.GreaterThan(br, bl);
                var bottomMax = Vector512.ConditionalSelect(bottomRight, br, bl);
                var bottomAt = Vector512.ConditionalSelect(bottomRight.AsInt32(), leftAt + one, leftAt) + below;
                var takeBottom = Vector512.GreaterThan(bottomMax, topMax);
                var best = Vector512.ConditionalSelect(takeBottom, bottomMax, topMax);
                var o = py * pool.Width + px;
                Avx512F.MaskStore(pd + o, take.AsSingle(), Vector512.ConditionalSelect(Vector512.GreaterThan(best, Vector512<float>.Zero), best, Vector512<float>.Zero));
                Avx512F.MaskStore(pa + o, take, Vector512.ConditionalSelect(takeBottom.AsInt32(), bottomAt, topAt));
            }
        }
    }

    /// <summary>Whether <see cref="Unpool2x2Relu"/> covers the plane: 2×2 windows that tile it exactly, and 512-bit lanes.</summary>
    private static bool CanUnpool2x2(in ConvGeometry g, ConvPooling pool) =>
        pool.Kernel == 2 && g.OW % 2 == 0 && g.OH % 2 == 0 && Avx512F.IsSupported;

    /// <summary>
    /// The fused pooling's backward step for one plane, in lanes: every value of each 2×2 window is written, the pooled
    /// gradient (through the ReLU's mask, as 0 + g) at the window's winner and zero at the other three, so the plane
    /// needs no clearing first and no scattered stores. The same values as clearing and then writing each winner.
    /// </summary>
    private static unsafe void Unpool2x2Relu(ReadOnlySpan<float> output, ReadOnlySpan<float> gy, ReadOnlySpan<int> at, int width, ConvPooling pool,
        Span<float> plane)
    {
        // Lane l of the first half of a row pair interleaves window l's left and right values: (0, 16, 1, 17, …).
        var low = Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        var high = low + Vector512.Create(8);
        var twice = Vector512<int>.Indices * 2;
        var right = Vector512<int>.One;
        var below = Vector512.Create(width);
        var belowRight = Vector512.Create(width + 1);
        fixed (float* py0 = output, pg0 = gy, pd = plane)
        fixed (int* pa0 = at)
        {
            for (var py = 0; py < pool.Height; py++)
            for (var px = 0; px < pool.Width; px += 16)
            {
                var lanes = Math.Min(16, pool.Width - px);
                var j = py * pool.Width + px;
                var take = Lanes.First(lanes);
                var y = Avx512F.MaskLoad(py0 + j, take.AsSingle(), Vector512<float>.Zero);
                var g = Avx512F.MaskLoad(pg0 + j, take.AsSingle(), Vector512<float>.Zero);
                var code = Avx512F.MaskLoad(pa0 + j, take, Vector512<int>.Zero) - (Vector512.Create(2 * py * width + 2 * px) + twice);
                g = Vector512.ConditionalSelect(Vector512.GreaterThan(y, Vector512<float>.Zero), g, Vector512<float>.Zero) + Vector512<float>.Zero;
                var tl = Vector512.ConditionalSelect(Vector512.Equals(code, Vector512<int>.Zero).AsSingle(), g, Vector512<float>.Zero);
                var tr = Vector512.ConditionalSelect(Vector512.Equals(code, right).AsSingle(), g, Vector512<float>.Zero);
                var bl = Vector512.ConditionalSelect(Vector512.Equals(code, below).AsSingle(), g, Vector512<float>.Zero);
                var br = Vector512.ConditionalSelect(Vector512.Equals(code, belowRight).AsSingle(), g, Vector512<float>.Zero);
                var top = pd + 2 * py * width + 2 * px;
                var first = Lanes.First(2 * lanes).AsSingle();
                var second = Lanes.First(2 * lanes - 16).AsSingle();
                Avx512F.MaskStore(top, first, Avx512F.PermuteVar16x32x2(tl, low, tr));
                Avx512F.MaskStore(top + 16, second, Avx512F.PermuteVar16x32x2(tl, high, tr));
                Avx512F.MaskStore(top + width, first, Avx512F.PermuteVar16x32x2(bl, low, br));
                Avx512F.MaskStore(top + width + 16, second, Avx512F.PermuteVar16x32x2(bl, high, br));
            }
        }
    }

    private static void ConvBackward(Tensor x, Tensor weight, Tensor? bias, ConvGeometry g, bool relu, ConvPooling pool, Tensor y, Tensor? winners)
    {
        if (y.Grad is not { } gy) return;
        var start = Stopwatch.GetTimestamp();
        int b = x.Shape[0], o = weight.Shape[0], parts = Parts(b);
        // Each part's weight and bias gradients land in their own rows, summed in part order below.
        var weightParts = weight.RequiresGrad ? Tape.Output([parts, o * g.Rows], requiresGrad: false) : null;
        var biasParts = bias is { RequiresGrad: true } ? Tape.Output([parts, o], requiresGrad: false) : null;
        var fresh = false;
        var gx = x.RequiresGrad ? Tape.GradToWrite(x, out fresh) : null;
        var work = new long[2];
        Workers.Run(parts, part => ConvBackwardPart(x, weight, g, relu ? y : null, pool, winners, gy, gx, fresh, weightParts, biasParts, part, work));
        if (weightParts is not null) SumRows(weightParts, Tape.GradOf(weight).Span);
        if (biasParts is not null) SumRows(biasParts, Tape.GradOf(bias!).Span);
        OpTimes.AddShares(start, OpKind.ConvBackwardWeights, work[0], OpKind.ConvBackwardData, work[1]);
    }

    private static unsafe void ConvBackwardPart(Tensor x, Tensor weight, ConvGeometry g, Tensor? reluOutput, ConvPooling pool, Tensor? winners,
        Tensor gy, Tensor? gx, bool freshGx, Tensor? weightParts, Tensor? biasParts, int part, long[] work)
    {
        var timed = OpTimes.Enabled;
        var t0 = timed ? Stopwatch.GetTimestamp() : 0;
        var (n0, count) = PartSamples(part, x.Shape[0]);
        int o = weight.Shape[0], rows = g.Rows, hw = g.Positions, cols = count * hw;
        // The output gradient as [out, samples·hw], the layout of the forward product (through the ReLU's mask when fused).
        var unpoolInLanes = winners is not null && CanUnpool2x2(g, pool);
        var (gyT, go) = RentAligned(o * ConvSamplesPerPart * hw, clear: winners is not null && !unpoolInLanes);
        if (unpoolInLanes)
        {
            var at = MemoryMarshal.Cast<float, int>(winners!.Data.AsSpan());
            for (var i = 0; i < count; i++)
            for (var f = 0; f < o; f++)
            {
                var from = ((n0 + i) * o + f) * pool.Positions;
                Unpool2x2Relu(reluOutput!.Data.AsSpan(from), gy.Data.AsSpan(from), at[from..], g.OW, pool, gyT.AsSpan(go + f * cols + i * hw, hw));
            }
        }
        else if (winners is not null)
        {
            // Fused pooling: each pooled gradient goes to its window's winner, through the ReLU's mask (the pooled output
            // is positive exactly where the winner's activation is). The separate steps add it to a zeroed gradient, so
            // it is written as 0 + g here: the same bits, down to the sign of a zero.
            // The mask is applied in lanes first: a branch per value would mispredict half the time.
            var at = MemoryMarshal.Cast<float, int>(winners.Data.AsSpan());
            var pooled = pool.Positions;
            var masked = BufferPool.Rent(pooled, clear: false);
            for (var i = 0; i < count; i++)
            for (var f = 0; f < o; f++)
            {
                var from = ((n0 + i) * o + f) * pooled;
                ReluGradient(reluOutput!.Data.AsSpan(from, pooled), gy.Data.AsSpan(from, pooled), masked, accumulate: false);
                var dst = gyT.AsSpan(go + f * cols + i * hw, hw);
                var winner = at.Slice(from, pooled);
                for (var j = 0; j < pooled; j++) dst[winner[j]] = 0f + masked[j];
            }
            BufferPool.Return(masked);
        }
        else
        {
            for (var i = 0; i < count; i++)
            for (var f = 0; f < o; f++)
            {
                var at = ((n0 + i) * o + f) * hw;
                var dst = gyT.AsSpan(go + f * cols + i * hw, hw);
                if (reluOutput is null) gy.Data.AsSpan(at, hw).CopyTo(dst);
                else ReluGradient(reluOutput.Data.AsSpan(at, hw), gy.Data.AsSpan(at, hw), dst, accumulate: false);
            }
        }
        var (unrolled, uo) = RentAligned(rows * ConvSamplesPerPart * hw, clear: false);
        fixed (float* px = x.Data, pu = unrolled)
        {
            if (weightParts is not null)
            {
                Im2Col.Unroll(px + (long)n0 * g.InputSize, count, g, pu + uo, cols);
                var scratch = BufferPool.Rent(RowDots.ScratchSize(o, rows), clear: false);
                fixed (float* pg = gyT, pw = weightParts.Data, ps = scratch)
                {
                    RowDots.Compute(pg + go, cols, pu + uo, cols, o, rows, cols, pw + (long)part * o * rows, rows, ps);
                }
                BufferPool.Return(scratch);
            }
            if (biasParts is not null)
            {
                for (var f = 0; f < o; f++) biasParts.Data[part * o + f] = TensorPrimitives.Sum(gyT.AsSpan(go + f * cols, cols));
            }
            var t1 = timed ? Stopwatch.GetTimestamp() : 0;
            if (gx is not null)
            {
                Gemm.Sgemm(true, false, rows, cols, o, 1f, weight.Data, 0, rows, gyT, go, cols, 0f, unrolled, uo, cols);
                fixed (float* pgx = gx.Data)
                {
                    Im2Col.FoldAdd(pu + uo, cols, count, g, pgx + (long)n0 * g.InputSize, write: freshGx);
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

    /// <summary>
    /// A pooled buffer of at least <paramref name="length"/> floats and the offset of its first 64-byte boundary: rows
    /// that start on a cache line let 512-bit loads read one line each instead of two (the weight gradient's dot
    /// products ran at half speed on unaligned rows).
    /// </summary>
    private static unsafe (float[] Buffer, int Offset) RentAligned(int length, bool clear)
    {
        var buffer = BufferPool.Rent(length + 15, clear);
        fixed (float* p = buffer) return (buffer, (int)((64 - ((nint)p & 63)) & 63) / sizeof(float));
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
