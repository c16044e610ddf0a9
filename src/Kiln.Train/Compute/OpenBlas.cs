using System.Runtime.InteropServices;

namespace Kiln.Train.Compute;

/// <summary>
/// <c>cblas_sgemm</c> from Debian's libopenblas (package <c>libopenblas0</c>), loaded only when present and
/// asked for (<c>KILN_BLAS=openblas</c>). The managed kernels are the default: on this project's machines
/// OpenBLAS is pinned to AVX2 (<c>OPENBLAS_CORETYPE=Haswell</c>) while the managed kernel uses AVX-512.
/// </summary>
internal static unsafe class OpenBlas
{
    private const int RowMajor = 101;
    private const int NoTrans = 111;
    private const int Trans = 112;

    private static readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> SgemmFn;

    static OpenBlas()
    {
        foreach (var name in new[] { "libopenblas.so.0", "libopenblas.so", "libopenblas" })
        {
            if (NativeLibrary.TryLoad(name, out var lib) && NativeLibrary.TryGetExport(lib, "cblas_sgemm", out var fn))
            {
                SgemmFn = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)fn;
                break;
            }
        }
    }

    public static bool IsAvailable => SgemmFn != null;

    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        float[] a, int aOffset, int lda, float[] b, int bOffset, int ldb, float beta, float[] c, int cOffset, int ldc)
    {
        if (SgemmFn == null) throw new InvalidOperationException("libopenblas is not installed (Debian package libopenblas0)");
        fixed (float* pa = a, pb = b, pc = c)
        {
            SgemmFn(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, m, n, k, alpha,
                pa + aOffset, Math.Max(1, lda), pb + bOffset, Math.Max(1, ldb), beta, pc + cOffset, Math.Max(1, ldc));
        }
    }
}
