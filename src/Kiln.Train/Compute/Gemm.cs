using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kiln.Train.Compute;

/// <summary>
/// Single-precision matrix multiply with BLAS semantics, row-major:
/// <c>C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C</c>, where op transposes when asked.
/// </summary>
/// <remarks>
/// The managed path follows the BLIS structure: blocks of B (KC×NC) and A (MC×KC) are packed into contiguous
/// panels, and a register-blocked micro-kernel multiplies an MR×KC panel by a KC×NR panel entirely in
/// registers — 8×32 with <see cref="Vector512{T}"/> (16 accumulators), 6×16 with <see cref="Vector256{T}"/>, and a
/// scalar 4×4 elsewhere. Large products split their output into fixed ranges across <see cref="Workers"/>; every
/// element is summed in the same order whatever the split, so results do not depend on the thread count.
/// When <see cref="Backend"/> is <see cref="GemmBackend.OpenBlas"/> and Debian's libopenblas is present, calls go
/// to <c>cblas_sgemm</c> instead.
/// </remarks>
public static unsafe class Gemm
{
    private const int KC = 256;
    private const int MC = 192;
    private const int NC = 2048;
    // Below this, moving the operands between the cores' caches costs more than the second core gains. Measured on a
    // 2-vCPU Zen 4 machine: the MLP's 8.4 MFLOP products (128×128×256) run 1.6–1.8× faster on two threads (a step of
    // the MLP benchmark 1.13 → 0.9 ms of products); on the earlier machines only products of ~16 MFLOP and more gained.
    private const long ParallelFlops = 4_000_000;

    private static readonly int MR;
    private static readonly int NR;
    private static readonly Kernel Kind;

    private enum Kernel { Avx512, Avx2, Scalar }

    [ThreadStatic] private static float* _packA;
    [ThreadStatic] private static float* _packB;

    static Gemm()
    {
        var forced = Environment.GetEnvironmentVariable("KILN_GEMM_KERNEL");
        if (Vector512.IsHardwareAccelerated && forced is null or "avx512") (Kind, MR, NR) = (Kernel.Avx512, 8, 32);
        else if (Vector256.IsHardwareAccelerated && forced is null or "avx512" or "avx2") (Kind, MR, NR) = (Kernel.Avx2, 6, 16);
        else (Kind, MR, NR) = (Kernel.Scalar, 4, 4);
        Backend = Environment.GetEnvironmentVariable("KILN_BLAS") == "openblas" && OpenBlas.IsAvailable ? GemmBackend.OpenBlas : GemmBackend.Managed;
    }

    /// <summary>Which implementation runs: the managed kernels (default) or OpenBLAS (<c>KILN_BLAS=openblas</c>).</summary>
    public static GemmBackend Backend { get; set; }

    /// <summary>The micro-kernel in use, for reports: <c>avx512 8x32</c>, <c>avx2 6x16</c> or <c>scalar 4x4</c>.</summary>
    public static string KernelName => $"{Kind.ToString().ToLowerInvariant()} {MR}x{NR}";

    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        float[] a, int aOffset, int lda, float[] b, int bOffset, int ldb, float beta, float[] c, int cOffset, int ldc)
    {
        Check(transA ? k : m, transA ? m : k, a, aOffset, lda, "A");
        Check(transB ? n : k, transB ? k : n, b, bOffset, ldb, "B");
        Check(m, n, c, cOffset, ldc, "C");
        if (m == 0 || n == 0) return;
        if (Backend == GemmBackend.OpenBlas)
        {
            OpenBlas.Sgemm(transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
            return;
        }
        if (k == 0 || alpha == 0f)
        {
            if (beta != 1f) ScaleC(m, n, beta, c, cOffset, ldc);
            return;
        }
        // With beta = 0 the first block of k writes C instead of adding to a cleared C: C is not cleared and read back.
        // The first block stores fma(sum, alpha, +0), the bits the cleared C gave.
        var overwrite = beta == 0f;
        if (!overwrite && beta != 1f) ScaleC(m, n, beta, c, cOffset, ldc);

        var flops = 2L * m * n * k;
        var threads = flops < ParallelFlops ? 1 : Workers.Threads;
        if (threads <= 1)
        {
            Compute(transA, transB, 0, m, 0, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc, overwrite);
            return;
        }
        // Split into whole micro-tiles; each part owns its rows or columns of C. Every part packs all of the operand
        // on the side not split (A when splitting columns, B when splitting rows), so split the side whose opposite
        // operand is smaller: for a weight gradient [256×784] = Xᵀ[256×128]·G[128×784], splitting rows would pack
        // the 400 KB G twice.
        var splitN = m <= n ? n > NR : m <= MR;
        var tiles = splitN ? (n + NR - 1) / NR : (m + MR - 1) / MR;
        var parts = Math.Min(threads, tiles);
        Workers.Run(parts, part =>
        {
            var first = tiles * part / parts;
            var last = tiles * (part + 1) / parts;
            if (splitN)
                Compute(transA, transB, 0, m, first * NR, Math.Min(n, last * NR), k, alpha, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc, overwrite);
            else
                Compute(transA, transB, first * MR, Math.Min(m, last * MR), 0, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc, overwrite);
        });
    }

    private static void Check(int rows, int cols, float[] x, int offset, int ld, string name)
    {
        if (rows == 0 || cols == 0) return;
        if (ld < cols) throw new ArgumentException($"{name}: leading dimension {ld} is smaller than its {cols} columns");
        if (offset < 0 || (long)offset + (long)(rows - 1) * ld + cols > x.Length)
            throw new ArgumentException($"{name}: a {rows}x{cols} matrix at offset {offset} with stride {ld} does not fit in {x.Length} values");
    }

    private static void ScaleC(int m, int n, float beta, float[] c, int offset, int ldc)
    {
        for (var i = 0; i < m; i++)
        {
            var row = c.AsSpan(offset + i * ldc, n);
            if (beta == 0f) row.Clear();
            else TensorPrimitives.Multiply(row, beta, row);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Compute(bool ta, bool tb, int m0, int m1, int n0, int n1, int k, float alpha,
        float[] a, int aOffset, int lda, float[] b, int bOffset, int ldb, float[] c, int cOffset, int ldc, bool overwrite)
    {
        if (_packA == null)
        {
            _packA = (float*)NativeMemory.AlignedAlloc((nuint)(MC * KC * sizeof(float)), 64);
            _packB = (float*)NativeMemory.AlignedAlloc((nuint)(NC * KC * sizeof(float)), 64);
        }
        var packA = _packA;
        var packB = _packB;
        var tile = stackalloc float[8 * 32];
        fixed (float* pa0 = a, pb0 = b, pc0 = c)
        {
            var pa = pa0 + aOffset;
            var pb = pb0 + bOffset;
            var pc = pc0 + cOffset;
            for (var jc = n0; jc < n1; jc += NC)
            {
                var nc = Math.Min(NC, n1 - jc);
                for (var p = 0; p < k; p += KC)
                {
                    var kc = Math.Min(KC, k - p);
                    var fresh = overwrite && p == 0;
                    PackB(tb, pb, ldb, p, kc, jc, nc, packB);
                    for (var ic = m0; ic < m1; ic += MC)
                    {
                        var mc = Math.Min(MC, m1 - ic);
                        PackA(ta, pa, lda, ic, mc, p, kc, packA);
                        for (var jr = 0; jr < nc; jr += NR)
                        {
                            var nr = Math.Min(NR, nc - jr);
                            for (var ir = 0; ir < mc; ir += MR)
                            {
                                var mr = Math.Min(MR, mc - ir);
                                var ct = pc + (long)(ic + ir) * ldc + jc + jr;
                                var ap = packA + ir * kc;
                                var bp = packB + jr * kc;
                                if (mr == MR && nr == NR)
                                {
                                    Micro(kc, ap, bp, ct, ldc, alpha, fresh);
                                }
                                else
                                {
                                    new Span<float>(tile, MR * NR).Clear();
                                    Micro(kc, ap, bp, tile, NR, 1f, fresh);
                                    for (var r = 0; r < mr; r++)
                                    for (var q = 0; q < nr; q++)
                                        ct[(long)r * ldc + q] = MathF.FusedMultiplyAdd(tile[r * NR + q], alpha, fresh ? 0f : ct[(long)r * ldc + q]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Micro(int kc, float* ap, float* bp, float* c, int ldc, float alpha, bool fresh)
    {
        switch (Kind)
        {
            case Kernel.Avx512: Micro8x32(kc, ap, bp, c, ldc, alpha, fresh); break;
            case Kernel.Avx2: Micro6x16(kc, ap, bp, c, ldc, alpha, fresh); break;
            default: Micro4x4(kc, ap, bp, c, ldc, alpha, fresh); break;
        }
    }

    /// <summary>Packs rows [i0, i0+mc) and columns [p, p+kc) of op(A) into MR-row panels: panel[kk*MR + r], zero-padded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackA(bool ta, float* a, int lda, int i0, int mc, int p, int kc, float* dst)
    {
        for (var ir = 0; ir < mc; ir += MR)
        {
            var mr = Math.Min(MR, mc - ir);
            var panel = dst + ir * kc;
            if (ta)
            {
                // op(A)(i, kk) = A[kk, i]: MR consecutive values per kk.
                if (MR == 8 && mr == MR && Vector256.IsHardwareAccelerated)
                {
                    for (var kk = 0; kk < kc; kk++) Vector256.Load(a + (long)(p + kk) * lda + i0 + ir).Store(panel + kk * MR);
                    continue;
                }
                for (var kk = 0; kk < kc; kk++)
                {
                    var src = a + (long)(p + kk) * lda + i0 + ir;
                    var d = panel + kk * MR;
                    var r = 0;
                    for (; r < mr; r++) d[r] = src[r];
                    for (; r < MR; r++) d[r] = 0f;
                }
            }
            else if (Avx.IsSupported && MR == 8 && mr == MR)
            {
                // op(A)(i, kk) = A[i, kk]: MR rows side by side, a transpose, done 8×8 in registers.
                var src = a + (long)(i0 + ir) * lda + p;
                var kk8 = kc - kc % 8;
                for (var kk = 0; kk < kk8; kk += 8) Transpose8x8(src + kk, lda, panel + kk * MR, MR);
                for (var kk = kk8; kk < kc; kk++)
                for (var r = 0; r < MR; r++)
                    panel[kk * MR + r] = src[(long)r * lda + kk];
            }
            else
            {
                for (var r = 0; r < MR; r++)
                {
                    if (r < mr)
                    {
                        var src = a + (long)(i0 + ir + r) * lda + p;
                        for (var kk = 0; kk < kc; kk++) panel[kk * MR + r] = src[kk];
                    }
                    else
                    {
                        for (var kk = 0; kk < kc; kk++) panel[kk * MR + r] = 0f;
                    }
                }
            }
        }
    }

    /// <summary>Packs rows [p, p+kc) and columns [j0, j0+nc) of op(B) into NR-column panels: panel[kk*NR + q], zero-padded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackB(bool tb, float* b, int ldb, int p, int kc, int j0, int nc, float* dst)
    {
        for (var jr = 0; jr < nc; jr += NR)
        {
            var nr = Math.Min(NR, nc - jr);
            var panel = dst + jr * kc;
            if (!tb)
            {
                for (var kk = 0; kk < kc; kk++)
                {
                    var src = b + (long)(p + kk) * ldb + j0 + jr;
                    var d = panel + kk * NR;
                    if (nr == NR)
                    {
                        Buffer.MemoryCopy(src, d, NR * sizeof(float), NR * sizeof(float));
                    }
                    else
                    {
                        var q = 0;
                        for (; q < nr; q++) d[q] = src[q];
                        for (; q < NR; q++) d[q] = 0f;
                    }
                }
            }
            else if (Avx.IsSupported && nr == NR && NR % 8 == 0)
            {
                // op(B)(kk, j) = B[j, kk]: a transpose, done 8×8 in registers.
                var kk8 = kc - kc % 8;
                for (var q = 0; q < NR; q += 8)
                {
                    var src = b + (long)(j0 + jr + q) * ldb + p;
                    for (var kk = 0; kk < kk8; kk += 8) Transpose8x8(src + kk, ldb, panel + kk * NR + q, NR);
                    for (var kk = kk8; kk < kc; kk++)
                    for (var r = 0; r < 8; r++)
                        panel[kk * NR + q + r] = src[(long)r * ldb + kk];
                }
            }
            else
            {
                // op(B)(kk, j) = B[j, kk]: a transpose, one source row per output column.
                for (var q = 0; q < NR; q++)
                {
                    if (q < nr)
                    {
                        var src = b + (long)(j0 + jr + q) * ldb + p;
                        for (var kk = 0; kk < kc; kk++) panel[kk * NR + q] = src[kk];
                    }
                    else
                    {
                        for (var kk = 0; kk < kc; kk++) panel[kk * NR + q] = 0f;
                    }
                }
            }
        }
    }

    /// <summary>Writes the transpose of the 8×8 block at <paramref name="src"/> (row stride <paramref name="lds"/>) to <paramref name="dst"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* src, int lds, float* dst, int ldd)
    {
        var r0 = Avx.LoadVector256(src);
        var r1 = Avx.LoadVector256(src + lds);
        var r2 = Avx.LoadVector256(src + 2L * lds);
        var r3 = Avx.LoadVector256(src + 3L * lds);
        var r4 = Avx.LoadVector256(src + 4L * lds);
        var r5 = Avx.LoadVector256(src + 5L * lds);
        var r6 = Avx.LoadVector256(src + 6L * lds);
        var r7 = Avx.LoadVector256(src + 7L * lds);
        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5);
        var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7);
        var t7 = Avx.UnpackHigh(r6, r7);
        var s0 = Avx.Shuffle(t0, t2, 0x44);
        var s1 = Avx.Shuffle(t0, t2, 0xEE);
        var s2 = Avx.Shuffle(t1, t3, 0x44);
        var s3 = Avx.Shuffle(t1, t3, 0xEE);
        var s4 = Avx.Shuffle(t4, t6, 0x44);
        var s5 = Avx.Shuffle(t4, t6, 0xEE);
        var s6 = Avx.Shuffle(t5, t7, 0x44);
        var s7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(s0, s4, 0x20));
        Avx.Store(dst + ldd, Avx.Permute2x128(s1, s5, 0x20));
        Avx.Store(dst + 2L * ldd, Avx.Permute2x128(s2, s6, 0x20));
        Avx.Store(dst + 3L * ldd, Avx.Permute2x128(s3, s7, 0x20));
        Avx.Store(dst + 4L * ldd, Avx.Permute2x128(s0, s4, 0x31));
        Avx.Store(dst + 5L * ldd, Avx.Permute2x128(s1, s5, 0x31));
        Avx.Store(dst + 6L * ldd, Avx.Permute2x128(s2, s6, 0x31));
        Avx.Store(dst + 7L * ldd, Avx.Permute2x128(s3, s7, 0x31));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro8x32(int kc, float* ap, float* bp, float* c, int ldc, float alpha, bool fresh)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
        for (var kk = 0; kk < kc; kk++)
        {
            var b0 = Vector512.Load(bp);
            var b1 = Vector512.Load(bp + 16);
            var a0 = Vector512.Create(ap[0]);
            c00 = Vector512.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector512.Create(ap[1]);
            c10 = Vector512.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector512.Create(ap[2]);
            c20 = Vector512.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
            var a3 = Vector512.Create(ap[3]);
            c30 = Vector512.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
            var a4 = Vector512.Create(ap[4]);
            c40 = Vector512.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
            var a5 = Vector512.Create(ap[5]);
            c50 = Vector512.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(a5, b1, c51);
            var a6 = Vector512.Create(ap[6]);
            c60 = Vector512.FusedMultiplyAdd(a6, b0, c60);
            c61 = Vector512.FusedMultiplyAdd(a6, b1, c61);
            var a7 = Vector512.Create(ap[7]);
            c70 = Vector512.FusedMultiplyAdd(a7, b0, c70);
            c71 = Vector512.FusedMultiplyAdd(a7, b1, c71);
            ap += 8;
            bp += 32;
        }
        var al = Vector512.Create(alpha);
        Store512(c, c00, c01, al, fresh);
        Store512(c + ldc, c10, c11, al, fresh);
        Store512(c + 2L * ldc, c20, c21, al, fresh);
        Store512(c + 3L * ldc, c30, c31, al, fresh);
        Store512(c + 4L * ldc, c40, c41, al, fresh);
        Store512(c + 5L * ldc, c50, c51, al, fresh);
        Store512(c + 6L * ldc, c60, c61, al, fresh);
        Store512(c + 7L * ldc, c70, c71, al, fresh);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(float* row, Vector512<float> lo, Vector512<float> hi, Vector512<float> alpha, bool fresh)
    {
        Vector512.Store(Vector512.FusedMultiplyAdd(lo, alpha, fresh ? Vector512<float>.Zero : Vector512.Load(row)), row);
        Vector512.Store(Vector512.FusedMultiplyAdd(hi, alpha, fresh ? Vector512<float>.Zero : Vector512.Load(row + 16)), row + 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro6x16(int kc, float* ap, float* bp, float* c, int ldc, float alpha, bool fresh)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (var kk = 0; kk < kc; kk++)
        {
            var b0 = Vector256.Load(bp);
            var b1 = Vector256.Load(bp + 8);
            var a0 = Vector256.Create(ap[0]);
            c00 = Vector256.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector256.Create(ap[1]);
            c10 = Vector256.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector256.Create(ap[2]);
            c20 = Vector256.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(a2, b1, c21);
            var a3 = Vector256.Create(ap[3]);
            c30 = Vector256.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(a3, b1, c31);
            var a4 = Vector256.Create(ap[4]);
            c40 = Vector256.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(a4, b1, c41);
            var a5 = Vector256.Create(ap[5]);
            c50 = Vector256.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(a5, b1, c51);
            ap += 6;
            bp += 16;
        }
        var al = Vector256.Create(alpha);
        Store256(c, c00, c01, al, fresh);
        Store256(c + ldc, c10, c11, al, fresh);
        Store256(c + 2L * ldc, c20, c21, al, fresh);
        Store256(c + 3L * ldc, c30, c31, al, fresh);
        Store256(c + 4L * ldc, c40, c41, al, fresh);
        Store256(c + 5L * ldc, c50, c51, al, fresh);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256(float* row, Vector256<float> lo, Vector256<float> hi, Vector256<float> alpha, bool fresh)
    {
        Vector256.Store(Vector256.FusedMultiplyAdd(lo, alpha, fresh ? Vector256<float>.Zero : Vector256.Load(row)), row);
        Vector256.Store(Vector256.FusedMultiplyAdd(hi, alpha, fresh ? Vector256<float>.Zero : Vector256.Load(row + 8)), row + 8);
    }

    private static void Micro4x4(int kc, float* ap, float* bp, float* c, int ldc, float alpha, bool fresh)
    {
        var acc = stackalloc float[16];
        for (var i = 0; i < 16; i++) acc[i] = 0f;
        for (var kk = 0; kk < kc; kk++)
        {
            for (var r = 0; r < 4; r++)
            {
                var av = ap[r];
                for (var q = 0; q < 4; q++) acc[r * 4 + q] = MathF.FusedMultiplyAdd(av, bp[q], acc[r * 4 + q]);
            }
            ap += 4;
            bp += 4;
        }
        for (var r = 0; r < 4; r++)
        for (var q = 0; q < 4; q++)
            c[(long)r * ldc + q] = MathF.FusedMultiplyAdd(acc[r * 4 + q], alpha, fresh ? 0f : c[(long)r * ldc + q]);
    }
}

public enum GemmBackend
{
    Managed,
    OpenBlas,
}
