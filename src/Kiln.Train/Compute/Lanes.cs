using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Kiln.Train.Compute;

/// <summary>Masks of 512-bit lanes, for the loads and stores that cover the end of a row.</summary>
internal static class Lanes
{
    /// <summary>Lanes [0, <paramref name="count"/>) set: all 16 for 16 or more, none for 0 or less.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> First(int count) => Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(count));
}
