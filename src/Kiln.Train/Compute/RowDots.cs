using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Kiln.Train.Compute;

/// <summary>
/// All dot products between the rows of two matrices whose rows share a long contiguous length:
/// <c>D[i, r] = Σ_j A[i, j]·B[r, j]</c>, the weight gradient of a convolution (output gradient times the unrolled
/// input, transposed). A matrix product would have to transpose one operand into panels first; here both are read
/// as they lie, 4×6 or 4×3 pairs at a time in 512-bit lanes.
/// </summary>
/// <remarks>
/// Lane l of each pair's accumulator sums the columns j ≡ l (mod 16) in increasing j; the lanes are then added in a
/// fixed tree and the last n mod 16 columns one by one, so every pair is summed in the same order whichever block
/// computes it. Long rows are walked in chunks of <see cref="Chunk"/> columns; the accumulators wait between chunks in
/// a scratch buffer.
/// </remarks>
internal static unsafe class RowDots
{
    /// <summary>
    /// Columns per chunk. Measured on the trial CNN's weight gradient (32 × 144 pairs over 1,568 columns): moving the
    /// accumulators between chunks costs more than keeping the chunk of A in the first-level cache saves (256 columns
    /// took 3.0 ms a step, 1,024 2.6 ms, one chunk of all 1,568 2.5 ms), so a chunk covers a part of 8 samples whole.
    /// </summary>
    private const int Chunk = 2048;

    /// <summary>Floats of scratch <see cref="Compute"/> needs for <paramref name="m"/> rows of A and <paramref name="rows"/> of B.</summary>
    public static int ScratchSize(int m, int rows) => m * rows * 16;

    /// <summary>Writes <c>D[i, r] = Σ_j A[i, j]·B[r, j]</c> for A [m × n] (rows <paramref name="lda"/> apart), B [rows × n] (ldb), D [m × rows] (ldd).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Compute(float* a, int lda, float* b, int ldb, int m, int rows, int n, float* d, int ldd, float* scratch)
    {
        if (!Vector512.IsHardwareAccelerated)
        {
            Scalar(a, lda, b, ldb, m, rows, n, d, ldd);
            return;
        }
        var n16 = n - n % 16;
        new Span<float>(scratch, ScratchSize(m, rows)).Clear();
        // Six rows of B at a time (24 accumulators, fewer loads per product), then three (a first layer's 3×3 kernel
        // over one channel has 9 rows), then the last one or two alone.
        int m4 = m - m % 4, r6 = rows - rows % 6, r3 = r6 + (rows - r6) / 3 * 3;
        for (var j0 = 0; j0 < n16; j0 += Chunk)
        {
            var len = Math.Min(Chunk, n16 - j0);
            for (var r = 0; r < r3; r += r < r6 ? 6 : 3)
            {
                var width = r < r6 ? 6 : 3;
                for (var i = 0; i < m4; i += 4)
                {
                    var block = scratch + (i * rows + r) * 16;
                    if (width == 6) Block4x6(a + i * (long)lda + j0, lda, b + r * (long)ldb + j0, ldb, len, block, rows);
                    else Block4x3(a + i * (long)lda + j0, lda, b + r * (long)ldb + j0, ldb, len, block, rows);
                }
                for (var i = m4; i < m; i++)
                for (var q = r; q < r + width; q++) One(a + i * (long)lda + j0, b + q * (long)ldb + j0, len, scratch + (i * rows + q) * 16);
            }
            for (var q = r3; q < rows; q++)
            for (var i = 0; i < m; i++) One(a + i * (long)lda + j0, b + q * (long)ldb + j0, len, scratch + (i * rows + q) * 16);
        }
        for (var i = 0; i < m; i++)
        for (var q = 0; q < rows; q++)
        {
            var s = Vector512.Sum(Vector512.Load(scratch + (i * rows + q) * 16));
            var ai = a + i * (long)lda;
            var bq = b + q * (long)ldb;
            for (var j = n16; j < n; j++) s = MathF.FusedMultiplyAdd(ai[j], bq[j], s);
            d[i * (long)ldd + q] = s;
        }
    }

    /// <summary>One pair's lanes over <paramref name="len"/> columns (a multiple of 16), added to its accumulator at <paramref name="acc"/>.</summary>
    private static void One(float* a, float* b, int len, float* acc)
    {
        var s = Vector512.Load(acc);
        for (var j = 0; j < len; j += 16) s = Vector512.FusedMultiplyAdd(Vector512.Load(a + j), Vector512.Load(b + j), s);
        s.Store(acc);
    }

    /// <summary>Four rows of A against six rows of B (24 accumulators in registers); pair (i, r)'s accumulator is at <c>acc + (i·rows + r)·16</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block4x6(float* a, int lda, float* b, int ldb, int len, float* acc, int rows)
    {
        var s = rows * 16;
        float* e0 = acc, e1 = acc + s, e2 = acc + 2 * s, e3 = acc + 3 * s;
        Vector512<float> c00 = Vector512.Load(e0), c01 = Vector512.Load(e0 + 16), c02 = Vector512.Load(e0 + 32), c03 = Vector512.Load(e0 + 48), c04 = Vector512.Load(e0 + 64), c05 = Vector512.Load(e0 + 80);
        Vector512<float> c10 = Vector512.Load(e1), c11 = Vector512.Load(e1 + 16), c12 = Vector512.Load(e1 + 32), c13 = Vector512.Load(e1 + 48), c14 = Vector512.Load(e1 + 64), c15 = Vector512.Load(e1 + 80);
        Vector512<float> c20 = Vector512.Load(e2), c21 = Vector512.Load(e2 + 16), c22 = Vector512.Load(e2 + 32), c23 = Vector512.Load(e2 + 48), c24 = Vector512.Load(e2 + 64), c25 = Vector512.Load(e2 + 80);
        Vector512<float> c30 = Vector512.Load(e3), c31 = Vector512.Load(e3 + 16), c32 = Vector512.Load(e3 + 32), c33 = Vector512.Load(e3 + 48), c34 = Vector512.Load(e3 + 64), c35 = Vector512.Load(e3 + 80);
        float* a1 = a + lda, a2 = a + 2L * lda, a3 = a + 3L * lda;
        float* b1 = b + ldb, b2 = b + 2L * ldb, b3 = b + 3L * ldb, b4 = b + 4L * ldb, b5 = b + 5L * ldb;
        for (var j = 0; j < len; j += 16)
        {
            var x0 = Vector512.Load(a + j);
            var x1 = Vector512.Load(a1 + j);
            var x2 = Vector512.Load(a2 + j);
            var x3 = Vector512.Load(a3 + j);
            var y = Vector512.Load(b + j);
            c00 = Vector512.FusedMultiplyAdd(x0, y, c00);
            c10 = Vector512.FusedMultiplyAdd(x1, y, c10);
            c20 = Vector512.FusedMultiplyAdd(x2, y, c20);
            c30 = Vector512.FusedMultiplyAdd(x3, y, c30);
            y = Vector512.Load(b1 + j);
            c01 = Vector512.FusedMultiplyAdd(x0, y, c01);
            c11 = Vector512.FusedMultiplyAdd(x1, y, c11);
            c21 = Vector512.FusedMultiplyAdd(x2, y, c21);
            c31 = Vector512.FusedMultiplyAdd(x3, y, c31);
            y = Vector512.Load(b2 + j);
            c02 = Vector512.FusedMultiplyAdd(x0, y, c02);
            c12 = Vector512.FusedMultiplyAdd(x1, y, c12);
            c22 = Vector512.FusedMultiplyAdd(x2, y, c22);
            c32 = Vector512.FusedMultiplyAdd(x3, y, c32);
            y = Vector512.Load(b3 + j);
            c03 = Vector512.FusedMultiplyAdd(x0, y, c03);
            c13 = Vector512.FusedMultiplyAdd(x1, y, c13);
            c23 = Vector512.FusedMultiplyAdd(x2, y, c23);
            c33 = Vector512.FusedMultiplyAdd(x3, y, c33);
            y = Vector512.Load(b4 + j);
            c04 = Vector512.FusedMultiplyAdd(x0, y, c04);
            c14 = Vector512.FusedMultiplyAdd(x1, y, c14);
            c24 = Vector512.FusedMultiplyAdd(x2, y, c24);
            c34 = Vector512.FusedMultiplyAdd(x3, y, c34);
            y = Vector512.Load(b5 + j);
            c05 = Vector512.FusedMultiplyAdd(x0, y, c05);
            c15 = Vector512.FusedMultiplyAdd(x1, y, c15);
            c25 = Vector512.FusedMultiplyAdd(x2, y, c25);
            c35 = Vector512.FusedMultiplyAdd(x3, y, c35);
        }
        c00.Store(e0); c01.Store(e0 + 16); c02.Store(e0 + 32); c03.Store(e0 + 48); c04.Store(e0 + 64); c05.Store(e0 + 80);
        c10.Store(e1); c11.Store(e1 + 16); c12.Store(e1 + 32); c13.Store(e1 + 48); c14.Store(e1 + 64); c15.Store(e1 + 80);
        c20.Store(e2); c21.Store(e2 + 16); c22.Store(e2 + 32); c23.Store(e2 + 48); c24.Store(e2 + 64); c25.Store(e2 + 80);
        c30.Store(e3); c31.Store(e3 + 16); c32.Store(e3 + 32); c33.Store(e3 + 48); c34.Store(e3 + 64); c35.Store(e3 + 80);
    }

    /// <summary>Four rows of A against three rows of B (12 accumulators); otherwise as <see cref="Block4x6"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block4x3(float* a, int lda, float* b, int ldb, int len, float* acc, int rows)
    {
        var s = rows * 16;
        float* e0 = acc, e1 = acc + s, e2 = acc + 2 * s, e3 = acc + 3 * s;
        Vector512<float> c00 = Vector512.Load(e0), c01 = Vector512.Load(e0 + 16), c02 = Vector512.Load(e0 + 32);
        Vector512<float> c10 = Vector512.Load(e1), c11 = Vector512.Load(e1 + 16), c12 = Vector512.Load(e1 + 32);
        Vector512<float> c20 = Vector512.Load(e2), c21 = Vector512.Load(e2 + 16), c22 = Vector512.Load(e2 + 32);
        Vector512<float> c30 = Vector512.Load(e3), c31 = Vector512.Load(e3 + 16), c32 = Vector512.Load(e3 + 32);
        float* a1 = a + lda, a2 = a + 2L * lda, a3 = a + 3L * lda;
        float* b1 = b + ldb, b2 = b + 2L * ldb;
        for (var j = 0; j < len; j += 16)
        {
            var x0 = Vector512.Load(a + j);
            var x1 = Vector512.Load(a1 + j);
            var x2 = Vector512.Load(a2 + j);
            var x3 = Vector512.Load(a3 + j);
            var y = Vector512.Load(b + j);
            c00 = Vector512.FusedMultiplyAdd(x0, y, c00);
            c10 = Vector512.FusedMultiplyAdd(x1, y, c10);
            c20 = Vector512.FusedMultiplyAdd(x2, y, c20);
            c30 = Vector512.FusedMultiplyAdd(x3, y, c30);
            y = Vector512.Load(b1 + j);
            c01 = Vector512.FusedMultiplyAdd(x0, y, c01);
            c11 = Vector512.FusedMultiplyAdd(x1, y, c11);
            c21 = Vector512.FusedMultiplyAdd(x2, y, c21);
            c31 = Vector512.FusedMultiplyAdd(x3, y, c31);
            y = Vector512.Load(b2 + j);
            c02 = Vector512.FusedMultiplyAdd(x0, y, c02);
            c12 = Vector512.FusedMultiplyAdd(x1, y, c12);
            c22 = Vector512.FusedMultiplyAdd(x2, y, c22);
            c32 = Vector512.FusedMultiplyAdd(x3, y, c32);
        }
        c00.Store(e0); c01.Store(e0 + 16); c02.Store(e0 + 32);
        c10.Store(e1); c11.Store(e1 + 16); c12.Store(e1 + 32);
        c20.Store(e2); c21.Store(e2 + 16); c22.Store(e2 + 32);
        c30.Store(e3); c31.Store(e3 + 16); c32.Store(e3 + 32);
    }

    /// <summary>Without 512-bit lanes: one dot product per pair.</summary>
    private static void Scalar(float* a, int lda, float* b, int ldb, int m, int rows, int n, float* d, int ldd)
    {
        for (var i = 0; i < m; i++)
        for (var q = 0; q < rows; q++)
            d[i * (long)ldd + q] = TensorPrimitives.Dot(new ReadOnlySpan<float>(a + i * (long)lda, n), new ReadOnlySpan<float>(b + q * (long)ldb, n));
    }
}
