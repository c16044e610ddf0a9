using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kiln.Train.Compute;

/// <summary>The shape of one 2-D convolution: input [C, H, W], kernel KH×KW, and the output's OH×OW positions.</summary>
internal readonly record struct ConvGeometry(int C, int H, int W, int KH, int KW, int Stride, int Padding, int OH, int OW)
{
    /// <summary>Rows of the unrolled matrix: one per (channel, kernel row, kernel column).</summary>
    public int Rows => C * KH * KW;

    /// <summary>Columns of the unrolled matrix per sample: one per output position.</summary>
    public int Positions => OH * OW;

    public int InputSize => C * H * W;

    /// <summary>
    /// "Same" convolutions (stride 1, output as wide as the input) shift whole images: one unrolled row is the
    /// flattened input plane moved by a fixed offset, so it is copied in one piece and only the columns that
    /// wrapped around a row edge are fixed up.
    /// </summary>
    public bool ShiftsWholeRows => Stride == 1 && OW == W;
}

/// <summary>
/// im2col and its transpose: a sample's receptive fields unrolled into a [C·KH·KW, OH·OW] block of a wider matrix
/// (several samples side by side, so one matrix product covers them all), and such a block folded back onto the
/// input, adding where receptive fields overlap.
/// </summary>
internal static unsafe class Im2Col
{
    /// <summary>
    /// Writes <paramref name="samples"/> consecutive samples [C, H, W] from <paramref name="x"/> unrolled side by side
    /// into <paramref name="cols"/>, whose rows are <paramref name="ld"/> apart: sample i's block starts at column
    /// i·<see cref="ConvGeometry.Positions"/>.
    /// </summary>
    public static void Unroll(float* x, int samples, in ConvGeometry g, float* cols, int ld)
    {
        var masks = g.ShiftsWholeRows && Avx512F.IsSupported ? ShiftMasks.For(g) : null;
        for (var i = 0; i < samples; i++)
        {
            float* sample = x + (long)i * g.InputSize, block = cols + (long)i * g.Positions;
            if (masks is not null) UnrollShifted(sample, g, masks, block, ld);
            else UnrollSample(sample, g, block, ld);
        }
    }

    /// <summary>One sample's block of <see cref="Unroll"/>, row by row.</summary>
    private static void UnrollSample(float* x, in ConvGeometry g, float* cols, int ld)
    {
        for (var ch = 0; ch < g.C; ch++)
        for (var ki = 0; ki < g.KH; ki++)
        for (var kj = 0; kj < g.KW; kj++)
        {
            var row = cols + (long)((ch * g.KH + ki) * g.KW + kj) * ld;
            var plane = x + (long)ch * g.H * g.W;
            var (oy0, oy1) = Inside(ki, g.Stride, g.Padding, g.H, g.OH);
            var (ox0, ox1) = Inside(kj, g.Stride, g.Padding, g.W, g.OW);
            Clear(row, oy0 * g.OW);
            Clear(row + oy1 * g.OW, (g.OH - oy1) * g.OW);
            if (oy0 >= oy1) continue;
            if (g.ShiftsWholeRows)
            {
                var (j0, j1, shift) = WholeRows(g, ki, kj, oy0, oy1);
                Clear(row + oy0 * g.OW, j0 - oy0 * g.OW);
                Clear(row + j1, oy1 * g.OW - j1);
                new ReadOnlySpan<float>(plane + j0 + shift, j1 - j0).CopyTo(new Span<float>(row + j0, j1 - j0));
                ClearWrapped(row, g.OW, oy0, oy1, ox0, ox1);
                continue;
            }
            for (var oy = oy0; oy < oy1; oy++)
            {
                var dst = row + oy * g.OW;
                var src = plane + (long)(oy * g.Stride - g.Padding + ki) * g.W + (ox0 * g.Stride - g.Padding + kj);
                Clear(dst, ox0);
                Clear(dst + ox1, g.OW - ox1);
                if (g.Stride == 1) new ReadOnlySpan<float>(src, ox1 - ox0).CopyTo(new Span<float>(dst + ox0, ox1 - ox0));
                else for (var ox = ox0; ox < ox1; ox++) dst[ox] = src[(ox - ox0) * g.Stride];
            }
        }
    }

    /// <summary>
    /// Adds the unrolled blocks of <paramref name="samples"/> samples in <paramref name="cols"/> back onto their inputs
    /// [C, H, W] at <paramref name="dx"/> (the transpose of <see cref="Unroll"/>); with <paramref name="write"/>, dx holds
    /// no values yet and gets the sums as if it had been zero. The blocks are scratch: the entries that fall outside the
    /// input are overwritten with zero.
    /// </summary>
    public static void FoldAdd(float* cols, int ld, int samples, in ConvGeometry g, float* dx, bool write)
    {
        var masks = g.ShiftsWholeRows && Avx512F.IsSupported ? ShiftMasks.For(g) : null;
        for (var i = 0; i < samples; i++)
        {
            float* block = cols + (long)i * g.Positions, sample = dx + (long)i * g.InputSize;
            if (masks is not null) FoldShifted(block, ld, g, masks, sample, write);
            else FoldSample(block, ld, g, sample, write);
        }
    }

    /// <summary>One sample's block of <see cref="FoldAdd"/>, row by row.</summary>
    private static void FoldSample(float* cols, int ld, in ConvGeometry g, float* dx, bool write)
    {
        if (write) Clear(dx, g.InputSize);
        for (var ch = 0; ch < g.C; ch++)
        for (var ki = 0; ki < g.KH; ki++)
        for (var kj = 0; kj < g.KW; kj++)
        {
            var row = cols + (long)((ch * g.KH + ki) * g.KW + kj) * ld;
            var plane = dx + (long)ch * g.H * g.W;
            var (oy0, oy1) = Inside(ki, g.Stride, g.Padding, g.H, g.OH);
            var (ox0, ox1) = Inside(kj, g.Stride, g.Padding, g.W, g.OW);
            if (oy0 >= oy1) continue;
            if (g.ShiftsWholeRows)
            {
                // Zeroing the wrapped columns first lets one contiguous add cover the rows: adding 0 changes nothing.
                ClearWrapped(row, g.OW, oy0, oy1, ox0, ox1);
                var (j0, j1, shift) = WholeRows(g, ki, kj, oy0, oy1);
                var target = new Span<float>(plane + j0 + shift, j1 - j0);
                TensorPrimitives.Add(target, new ReadOnlySpan<float>(row + j0, j1 - j0), target);
                continue;
            }
            for (var oy = oy0; oy < oy1; oy++)
            {
                var src = row + oy * g.OW;
                var dst = plane + (long)(oy * g.Stride - g.Padding + ki) * g.W + (ox0 * g.Stride - g.Padding + kj);
                if (g.Stride == 1)
                {
                    var target = new Span<float>(dst, ox1 - ox0);
                    TensorPrimitives.Add(target, new ReadOnlySpan<float>(src + ox0, ox1 - ox0), target);
                }
                else
                {
                    for (var ox = ox0; ox < ox1; ox++) dst[(ox - ox0) * g.Stride] += src[ox];
                }
            }
        }
    }

    /// <summary>
    /// <see cref="Unroll"/> for whole-row shifts, 16 positions at a time: each unrolled row is the plane read at its
    /// offset's shift through that offset's mask, so the values that fall outside the plane come in as zeros (a masked
    /// load neither reads nor faults on its masked lanes).
    /// </summary>
    private static void UnrollShifted(float* x, in ConvGeometry g, ShiftMasks masks, float* cols, int ld)
    {
        int offsets = g.KH * g.KW, n = g.Positions, planeSize = g.H * g.W;
        var tail = Lanes.First(n % 16).AsSingle();
        fixed (int* m0 = masks.Unroll)
        {
            for (var ch = 0; ch < g.C; ch++)
            for (var k = 0; k < offsets; k++)
            {
                var row = cols + (long)(ch * offsets + k) * ld;
                var src = x + (long)ch * planeSize + masks.Shifts[k];
                var m = m0 + k * masks.UnrollStride;
                var j = 0;
                for (; j <= n - 16; j += 16)
                    Avx512F.MaskLoad(src + j, Vector512.Load(m + j).AsSingle(), Vector512<float>.Zero).Store(row + j);
                if (j < n) Avx512F.MaskStore(row + j, tail, Avx512F.MaskLoad(src + j, Vector512.Load(m + j).AsSingle(), Vector512<float>.Zero));
            }
        }
    }

    /// <summary>
    /// <see cref="FoldAdd"/> for whole-row shifts: each input value gets all its kernel offsets' terms in registers, in
    /// offset order (the order of a row-by-row fold), and is written once; terms that fall outside the block add zero.
    /// </summary>
    private static void FoldShifted(float* cols, int ld, in ConvGeometry g, ShiftMasks masks, float* dx, bool write)
    {
        int offsets = g.KH * g.KW, planeSize = g.H * g.W;
        var shifts = masks.Shifts;
        fixed (int* m0 = masks.Fold)
        {
            for (var ch = 0; ch < g.C; ch++)
            {
                var plane = dx + (long)ch * planeSize;
                var rows = cols + (long)ch * offsets * ld;
                var t = 0;
                // Four groups of 16 at a time: four independent chains of additions instead of one waiting on the last.
                for (; t <= planeSize - 64; t += 64)
                {
                    Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                    if (!write)
                    {
                        a0 = Vector512.Load(plane + t);
                        a1 = Vector512.Load(plane + t + 16);
                        a2 = Vector512.Load(plane + t + 32);
                        a3 = Vector512.Load(plane + t + 48);
                    }
                    for (var k = 0; k < offsets; k++)
                    {
                        var src = rows + k * (long)ld + t - shifts[k];
                        var m = m0 + k * masks.FoldStride + t;
                        a0 += Avx512F.MaskLoad(src, Vector512.Load(m).AsSingle(), Vector512<float>.Zero);
                        a1 += Avx512F.MaskLoad(src + 16, Vector512.Load(m + 16).AsSingle(), Vector512<float>.Zero);
                        a2 += Avx512F.MaskLoad(src + 32, Vector512.Load(m + 32).AsSingle(), Vector512<float>.Zero);
                        a3 += Avx512F.MaskLoad(src + 48, Vector512.Load(m + 48).AsSingle(), Vector512<float>.Zero);
                    }
                    a0.Store(plane + t);
                    a1.Store(plane + t + 16);
                    a2.Store(plane + t + 32);
                    a3.Store(plane + t + 48);
                }
                for (; t < planeSize; t += 16)
                {
                    var whole = t <= planeSize - 16;
                    var lanes = whole ? Vector512<float>.AllBitsSet : Lanes.First(planeSize - t).AsSingle();
                    var acc = write ? Vector512<float>.Zero : whole ? Vector512.Load(plane + t) : Avx512F.MaskLoad(plane + t, lanes, Vector512<float>.Zero);
                    for (var k = 0; k < offsets; k++)
                        acc += Avx512F.MaskLoad(rows + k * (long)ld + t - shifts[k], Vector512.Load(m0 + k * masks.FoldStride + t).AsSingle(), Vector512<float>.Zero);
                    if (whole) acc.Store(plane + t);
                    else Avx512F.MaskStore(plane + t, lanes, acc);
                }
            }
        }
    }

    /// <summary>The output positions [first, last) whose input coordinate <c>o·stride − padding + k</c> lies in [0, size).</summary>
    private static (int First, int Last) Inside(int k, int stride, int padding, int size, int outSize)
    {
        var highest = size - 1 + padding - k;
        if (highest < 0) return (0, 0);
        var first = Math.Min(outSize, padding > k ? (padding - k + stride - 1) / stride : 0);
        var last = Math.Min(outSize, highest / stride + 1);
        return (first, Math.Max(first, last));
    }

    /// <summary>
    /// For a shifted-rows kernel offset: the unrolled positions [j0, j1) of rows [oy0, oy1) whose flattened input
    /// index j + shift lies inside the plane (only a wrapped corner can fall outside it).
    /// </summary>
    private static (int J0, int J1, int Shift) WholeRows(in ConvGeometry g, int ki, int kj, int oy0, int oy1)
    {
        var shift = (ki - g.Padding) * g.W + (kj - g.Padding);
        var j0 = Math.Max(oy0 * g.OW, -shift);
        var j1 = Math.Min(oy1 * g.OW, g.H * g.W - shift);
        return (j0, Math.Max(j0, j1), shift);
    }

    /// <summary>Zeroes, in rows [oy0, oy1), the columns outside [ox0, ox1): those a whole-row shift took from a neighbouring row.</summary>
    private static void ClearWrapped(float* row, int ow, int oy0, int oy1, int ox0, int ox1)
    {
        if (ox0 == 0 && ox1 == ow) return;
        for (var oy = oy0; oy < oy1; oy++)
        {
            var r = row + oy * ow;
            for (var ox = 0; ox < ox0; ox++) r[ox] = 0f;
            for (var ox = ox1; ox < ow; ox++) r[ox] = 0f;
        }
    }

    private static void Clear(float* p, int count)
    {
        if (count > 0) new Span<float>(p, count).Clear();
    }
}
