using System.Numerics;
using System.Runtime.CompilerServices;

namespace Kiln.Metrics.Epochs;

/// <summary>
/// 5^q for q in [<see cref="Smallest"/>, <see cref="Largest"/>], normalised to 128 bits (high word, low word), as the
/// Eisel–Lemire algorithm wants them. Each entry is computed the first time a number needs it: the whole table costs
/// tens of milliseconds of big-integer arithmetic, a noticeable share of a short command, while a log's numbers use
/// a few dozen exponents.
/// </summary>
internal static class PowersOfFive
{
    public const int Smallest = -342;
    public const int Largest = 308;

    private static readonly ulong[] Table = new ulong[2 * (Largest - Smallest + 1)];

    // Set after both words of an entry are written; a racing thread at worst computes the same entry again.
    private static readonly bool[] Ready = new bool[Largest - Smallest + 1];

    /// <summary>The high and low words of 5^<paramref name="q"/>; <paramref name="q"/> must be within the table.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Get(int q, out ulong high, out ulong low)
    {
        var i = q - Smallest;
        if (!Volatile.Read(ref Ready[i])) Compute(q);
        high = Table[2 * i];
        low = Table[2 * i + 1];
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Compute(int q)
    {
        BigInteger c;
        if (q < 0)
        {
            // A rounded-up reciprocal: 2^b / 5^-q + 1, with b chosen so the quotient has 128 bits (or more, then
            // truncated), which keeps the product an over-estimate as the algorithm's error analysis expects.
            var power5 = BigInteger.Pow(5, -q);
            var z = (int)power5.GetBitLength();
            c = (BigInteger.One << (q >= -27 ? z + 127 : 2 * z + 128)) / power5 + 1;
            var limit = BigInteger.One << 128;
            while (c >= limit) c >>= 1;
        }
        else
        {
            var power5 = BigInteger.Pow(5, q);
            var bits = (int)power5.GetBitLength();
            c = bits < 128 ? power5 << (128 - bits) : power5 >> (bits - 128);
        }
        var i = q - Smallest;
        Table[2 * i] = (ulong)(c >> 64);
        Table[2 * i + 1] = (ulong)(c & ulong.MaxValue);
        Volatile.Write(ref Ready[i], true);
    }
}
