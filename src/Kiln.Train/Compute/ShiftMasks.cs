using System.Collections.Concurrent;

namespace Kiln.Train.Compute;

/// <summary>
/// For a convolution whose kernel offsets shift whole rows (<see cref="ConvGeometry.ShiftsWholeRows"/>): each kernel
/// offset's shift in the flattened input plane, and lane masks (−1 where a pair is inside the plane, 0 where it is
/// not) that let <see cref="Im2Col"/> unroll and fold a plane with masked 16-lane loads instead of copying rows and
/// then clearing the columns that wrapped around an edge. Built once per geometry and kept.
/// </summary>
internal sealed class ShiftMasks
{
    private static readonly ConcurrentDictionary<ConvGeometry, ShiftMasks> Cache = new();

    private ShiftMasks(in ConvGeometry g)
    {
        var offsets = g.KH * g.KW;
        var inputs = g.H * g.W;
        UnrollStride = RoundUp(g.Positions);
        FoldStride = RoundUp(inputs);
        Shifts = new int[offsets];
        Unroll = new int[offsets * UnrollStride];
        Fold = new int[offsets * FoldStride];
        for (var ki = 0; ki < g.KH; ki++)
        for (var kj = 0; kj < g.KW; kj++)
        {
            var k = ki * g.KW + kj;
            Shifts[k] = (ki - g.Padding) * g.W + (kj - g.Padding);
            for (var j = 0; j < g.Positions; j++)
            {
                int iy = j / g.OW + ki - g.Padding, ix = j % g.OW + kj - g.Padding;
                Unroll[k * UnrollStride + j] = iy >= 0 && iy < g.H && ix >= 0 && ix < g.W ? -1 : 0;
            }
            for (var t = 0; t < inputs; t++)
            {
                int oy = t / g.W - ki + g.Padding, ox = t % g.W - kj + g.Padding;
                Fold[k * FoldStride + t] = oy >= 0 && oy < g.OH && ox >= 0 && ox < g.OW ? -1 : 0;
            }
        }
    }

    /// <summary>Kernel offset k = ki·KW + kj reads input position j + Shifts[k] for output position j.</summary>
    public int[] Shifts { get; }

    /// <summary>[k·UnrollStride + j]: whether output position j's input under offset k lies inside the plane (0 past the last position).</summary>
    public int[] Unroll { get; }

    public int UnrollStride { get; }

    /// <summary>[k·FoldStride + t]: whether input position t is read by output position t − Shifts[k] (0 past the last position).</summary>
    public int[] Fold { get; }

    public int FoldStride { get; }

    public static ShiftMasks For(in ConvGeometry g) => Cache.GetOrAdd(g, static g => new ShiftMasks(g));

    private static int RoundUp(int n) => (n + 15) / 16 * 16;
}
