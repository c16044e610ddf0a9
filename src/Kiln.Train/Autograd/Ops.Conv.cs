using Kiln.Train.Compute;
using Kiln.Train.Tensors;

namespace Kiln.Train.Autograd;

public static partial class Ops
{
    /// <summary>
    /// 2-D convolution of x [batch, in, h, w] with weight [out, in, kh, kw] (and bias [out]) via im2col: each
    /// sample's receptive fields are unrolled into a [in·kh·kw, out_h·out_w] matrix, so the convolution is one
    /// matrix product per sample whose result is already in [out, out_h, out_w] order.
    /// </summary>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int stride = 1, int padding = 0)
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
        var geometry = new ConvGeometry(c, h, w, kh, kw, stride, padding, oh, ow);
        int ckk = c * kh * kw, hw = oh * ow;
        var forwardTimed = OpTimes.Measure(OpKind.ConvForward);
        var cols = Tape.Output([b, ckk, hw], requiresGrad: false);
        var y = Tape.Output([b, o, oh, ow], Needs(x, weight) || (bias is not null && Needs(bias)));
        for (var n = 0; n < b; n++)
        {
            Im2Col(x.Data, n * c * h * w, geometry, cols.Data, n * ckk * hw);
            var yOff = n * o * hw;
            if (bias is not null)
            {
                for (var f = 0; f < o; f++) y.Data.AsSpan(yOff + f * hw, hw).Fill(bias.Data[f]);
            }
            Gemm.Sgemm(false, false, o, hw, ckk, 1f, weight.Data, 0, ckk, cols.Data, n * ckk * hw, hw, bias is null ? 0f : 1f, y.Data, yOff, hw);
        }
        forwardTimed.Dispose();
        if (y.RequiresGrad)
        {
            Tape.Record(() =>
            {
                if (y.Grad is not { } gy) return;
                var dcols = x.RequiresGrad ? Tape.Output([ckk, hw], requiresGrad: false) : null;
                for (var n = 0; n < b; n++)
                {
                    var gOff = n * o * hw;
                    using (OpTimes.Measure(OpKind.ConvBackwardWeights))
                    if (weight.RequiresGrad)
                        Gemm.Sgemm(false, true, o, ckk, hw, 1f, gy.Data, gOff, hw, cols.Data, n * ckk * hw, hw, 1f, Tape.GradOf(weight).Data, 0, ckk);
                    if (bias is { RequiresGrad: true })
                    {
                        var gb = Tape.GradOf(bias).Data;
                        for (var f = 0; f < o; f++) gb[f] += TensorPrimitives.Sum(gy.Data.AsSpan(gOff + f * hw, hw));
                    }
                    if (dcols is not null)
                    {
                        using var timed = OpTimes.Measure(OpKind.ConvBackwardData);
                        Gemm.Sgemm(true, false, ckk, hw, o, 1f, weight.Data, 0, ckk, gy.Data, gOff, hw, 0f, dcols.Data, 0, hw);
                        Col2ImAdd(dcols.Data, geometry, Tape.GradOf(x).Data, n * c * h * w);
                    }
                }
            });
        }
        return y;
    }

    private readonly record struct ConvGeometry(int C, int H, int W, int KH, int KW, int Stride, int Padding, int OH, int OW);

    private static void Im2Col(float[] x, int xOff, ConvGeometry g, float[] cols, int colOff)
    {
        var hw = g.OH * g.OW;
        for (var ch = 0; ch < g.C; ch++)
        for (var ki = 0; ki < g.KH; ki++)
        for (var kj = 0; kj < g.KW; kj++)
        {
            var row = cols.AsSpan(colOff + ((ch * g.KH + ki) * g.KW + kj) * hw, hw);
            var idx = 0;
            for (var oy = 0; oy < g.OH; oy++)
            {
                var iy = oy * g.Stride - g.Padding + ki;
                for (var ox = 0; ox < g.OW; ox++)
                {
                    var ix = ox * g.Stride - g.Padding + kj;
                    row[idx++] = (uint)iy < (uint)g.H && (uint)ix < (uint)g.W ? x[xOff + (ch * g.H + iy) * g.W + ix] : 0f;
                }
            }
        }
    }

    private static void Col2ImAdd(float[] cols, ConvGeometry g, float[] dx, int dxOff)
    {
        var hw = g.OH * g.OW;
        for (var ch = 0; ch < g.C; ch++)
        for (var ki = 0; ki < g.KH; ki++)
        for (var kj = 0; kj < g.KW; kj++)
        {
            var rowOff = ((ch * g.KH + ki) * g.KW + kj) * hw;
            var idx = 0;
            for (var oy = 0; oy < g.OH; oy++)
            {
                var iy = oy * g.Stride - g.Padding + ki;
                for (var ox = 0; ox < g.OW; ox++)
                {
                    var ix = ox * g.Stride - g.Padding + kj;
                    if ((uint)iy < (uint)g.H && (uint)ix < (uint)g.W) dx[dxOff + (ch * g.H + iy) * g.W + ix] += cols[rowOff + idx];
                    idx++;
                }
            }
        }
    }

    /// <summary>Max over <paramref name="kernel"/>×<paramref name="kernel"/> windows of x [batch, ch, h, w]; the gradient goes to each window's maximum.</summary>
    public static Tensor MaxPool2d(Tensor x, int kernel, int? stride = null)
    {
        if (x.Rank != 4) throw new ArgumentException($"max-pool needs [batch, ch, h, w], got {x}");
        var s = stride ?? kernel;
        if (kernel < 1 || s < 1) throw new ArgumentException("max-pool needs kernel >= 1 and stride >= 1");
        int b = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        var oh = (h - kernel) / s + 1;
        var ow = (w - kernel) / s + 1;
        if (oh <= 0 || ow <= 0) throw new ArgumentException($"max-pool: a {kernel}x{kernel} window does not fit {h}x{w}");
        using var timed = OpTimes.Measure(OpKind.Pooling);
        var y = Tape.Output([b, c, oh, ow], Needs(x));
        var argmax = new int[y.Size];
        var o = 0;
        for (var plane = 0; plane < b * c; plane++)
        {
            var baseOff = plane * h * w;
            for (var oy = 0; oy < oh; oy++)
            for (var ox = 0; ox < ow; ox++)
            {
                var best = float.NegativeInfinity;
                var at = baseOff + oy * s * w + ox * s;
                for (var ki = 0; ki < kernel; ki++)
                for (var kj = 0; kj < kernel; kj++)
                {
                    var i = baseOff + (oy * s + ki) * w + ox * s + kj;
                    if (x.Data[i] > best)
                    {
                        best = x.Data[i];
                        at = i;
                    }
                }
                y.Data[o] = best;
                argmax[o++] = at;
            }
        }
        if (y.RequiresGrad)
        {
            Tape.Record(() =>
            {
                if (y.Grad is not { } gy) return;
                using var timed = OpTimes.Measure(OpKind.Pooling);
                var gx = Tape.GradOf(x).Data;
                for (var i = 0; i < argmax.Length; i++) gx[argmax[i]] += gy.Data[i];
            });
        }
        return y;
    }
}
