using Kiln.Train.Compute;
using Kiln.Train.Tensors;

namespace Kiln.Train.Tests;

/// <summary>The managed matrix product against a double-precision reference.</summary>
public sealed class GemmTests
{
    [Theory]
    [InlineData(false, false, 13, 37, 300, 0f)]
    [InlineData(true, false, 8, 32, 9, 0f)]
    [InlineData(false, true, 17, 70, 260, 1f)]
    [InlineData(true, true, 5, 33, 20, 0.5f)]
    [InlineData(false, false, 200, 300, 40, 0f)]
    public void Products_match_a_double_reference(bool ta, bool tb, int m, int n, int k, float beta)
    {
        var rng = new Rng(11);
        var a = new float[m * k];
        var b = new float[k * n];
        var c = new float[m * n];
        rng.FillUniform(a, -1, 1);
        rng.FillUniform(b, -1, 1);
        rng.FillUniform(c, -1, 1);
        // With beta = 0, C's old values are ignored, NaN included (the first block of k overwrites C).
        if (beta == 0f) c[0] = float.NaN;
        var before = (float[])c.Clone();
        Gemm.Sgemm(ta, tb, m, n, k, 1.5f, a, 0, ta ? m : k, b, 0, tb ? k : n, beta, c, 0, n);
        for (var i = 0; i < m; i++)
        for (var j = 0; j < n; j++)
        {
            double s = 0;
            for (var p = 0; p < k; p++) s += (double)(ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
            var expected = 1.5 * s + (beta == 0f ? 0 : beta * (double)before[i * n + j]);
            Assert.True(Math.Abs(expected - c[i * n + j]) <= 1e-4 * Math.Max(1, Math.Sqrt(k)), $"({i}, {j}): {c[i * n + j]} against {expected}");
        }
    }
}
