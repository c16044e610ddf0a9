using System.Runtime.InteropServices;
using Kiln.Train.Compute;
using Kiln.Train.Tensors;

namespace Kiln.Train.Autograd;

public static partial class Ops
{
    /// <summary>Channel planes per part of a pooling pass; fixed, so the split never depends on the thread count.</summary>
    private const int PoolPlanesPerPart = 128;

    /// <summary>
    /// Max over <paramref name="kernel"/>×<paramref name="kernel"/> windows of x [batch, ch, h, w]; the gradient goes to
    /// each window's maximum (the first one on ties). The forward pass stores where each maximum was, so the backward
    /// pass is one scatter. Planes are split across <see cref="Workers"/>.
    /// </summary>
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
        // The positions are ints kept in a pooled float buffer of the same length (the tape pools floats only); nothing reads them as floats.
        var positions = Tape.Output([y.Size], requiresGrad: false);
        var planes = b * c;
        var parts = (planes + PoolPlanesPerPart - 1) / PoolPlanesPerPart;
        Workers.Run(parts, part =>
        {
            var first = part * PoolPlanesPerPart;
            var last = Math.Min(planes, first + PoolPlanesPerPart);
            var at = MemoryMarshal.Cast<float, int>(positions.Data.AsSpan());
            for (var plane = first; plane < last; plane++)
            {
                if (kernel == 2 && s == 2) MaxPool2x2(x.Data, plane, h, w, oh, ow, y.Data, at);
                else MaxPoolPlane(x.Data, plane, h, w, kernel, s, oh, ow, y.Data, at);
            }
        });
        if (y.RequiresGrad)
        {
            Tape.Record(() =>
            {
                if (y.Grad is not { } gy) return;
                using var timedBackward = OpTimes.Measure(OpKind.Pooling);
                var gx = Tape.GradOf(x).Data;
                var outPlane = oh * ow;
                // Planes are disjoint, so parts never add to the same element.
                Workers.Run(parts, part =>
                {
                    var from = part * PoolPlanesPerPart * outPlane;
                    var to = Math.Min(planes, (part + 1) * PoolPlanesPerPart) * outPlane;
                    var at = MemoryMarshal.Cast<float, int>(positions.Data.AsSpan());
                    for (var i = from; i < to; i++) gx[at[i]] += gy.Data[i];
                });
            });
        }
        return y;
    }

    private static void MaxPoolPlane(float[] x, int plane, int h, int w, int kernel, int s, int oh, int ow, float[] y, Span<int> at)
    {
        var baseOff = plane * h * w;
        var o = plane * oh * ow;
        for (var oy = 0; oy < oh; oy++)
        for (var ox = 0; ox < ow; ox++)
        {
            var best = float.NegativeInfinity;
            var where = baseOff + oy * s * w + ox * s;
            for (var ki = 0; ki < kernel; ki++)
            for (var kj = 0; kj < kernel; kj++)
            {
                var i = baseOff + (oy * s + ki) * w + ox * s + kj;
                if (x[i] > best)
                {
                    best = x[i];
                    where = i;
                }
            }
            y[o] = best;
            at[o++] = where;
        }
    }

    /// <summary>
    /// The common 2×2, stride-2 window: the same choice as <see cref="MaxPoolPlane"/> (strictly greater wins, so the
    /// first of equal values), written as selects rather than branches — which of four values is largest is random,
    /// and mispredicted branches cost more than the comparisons.
    /// </summary>
    private static void MaxPool2x2(float[] x, int plane, int h, int w, int oh, int ow, float[] y, Span<int> at)
    {
        var baseOff = plane * h * w;
        var o = plane * oh * ow;
        var rows = x.AsSpan(baseOff, h * w);
        var outs = y.AsSpan(o, oh * ow);
        var where = at.Slice(o, oh * ow);
        for (var oy = 0; oy < oh; oy++)
        {
            var r0 = 2 * oy * w;
            var r1 = r0 + w;
            for (var ox = 0; ox < ow; ox++)
            {
                int i = r0 + 2 * ox, j = r1 + 2 * ox;
                float a = rows[i], b = rows[i + 1], c = rows[j], d = rows[j + 1];
                var top = b > a ? b : a;
                var topAt = b > a ? i + 1 : i;
                var bottom = d > c ? d : c;
                var bottomAt = d > c ? j + 1 : j;
                outs[oy * ow + ox] = bottom > top ? bottom : top;
                where[oy * ow + ox] = baseOff + (bottom > top ? bottomAt : topAt);
            }
        }
    }
}
