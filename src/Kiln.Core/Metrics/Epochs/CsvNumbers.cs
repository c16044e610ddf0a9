using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace Kiln.Metrics.Epochs;

/// <summary>
/// Decimal numbers read straight from UTF-8 bytes, without allocating strings. Results are correctly
/// rounded, equal to <see cref="double.Parse(string, IFormatProvider)"/>: exact integers with an exact power of ten
/// take Clinger's one-operation path, other numbers of up to 19 significant digits the Eisel–Lemire algorithm, and
/// anything else (more digits, whitespace, the rare case Eisel–Lemire cannot settle) the runtime's own parser.
/// </summary>
internal static class CsvNumbers
{
    // 10^0 … 10^22 are exact doubles: one multiply or divide by them rounds once, hence exactly (Clinger 1990).
    private static readonly double[] ExactPowersOfTen =
    [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];

    // pandas 1.5's default na_values: read_csv turns exactly these cells into NaN.
    private static readonly byte[][] MissingTokens =
    [
        "#N/A"u8.ToArray(), "#N/A N/A"u8.ToArray(), "#NA"u8.ToArray(), "-1.#IND"u8.ToArray(), "-1.#QNAN"u8.ToArray(),
        "-NaN"u8.ToArray(), "-nan"u8.ToArray(), "1.#IND"u8.ToArray(), "1.#QNAN"u8.ToArray(), "<NA>"u8.ToArray(),
        "N/A"u8.ToArray(), "NA"u8.ToArray(), "NULL"u8.ToArray(), "NaN"u8.ToArray(), "n/a"u8.ToArray(), "nan"u8.ToArray(),
        "null"u8.ToArray(),
    ];

    /// <summary>
    /// Parses the number at the start of <paramref name="text"/> — <c>[+-]digits[.digits][(e|E)[+-]digits]</c> — and
    /// returns how many bytes it took, or 0 when there is none or the fast paths cannot decide it (the caller then
    /// uses <see cref="TryParseCell"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int ParsePrefix(ReadOnlySpan<byte> text, out double value)
    {
        // Indexing through a ref with explicit length checks, since this runs for every cell of a large log.
        ref var s = ref MemoryMarshal.GetReference(text);
        var length = text.Length;
        value = 0;
        var i = 0;
        var negative = false;
        if (length > 0 && (s == (byte)'-' || s == (byte)'+'))
        {
            negative = s == (byte)'-';
            i++;
        }
        var digitsStart = i;
        while (i < length && Unsafe.Add(ref s, i) == (byte)'0') i++;
        var sawDigit = i > digitsStart;
        ulong w = 0;
        var significantStart = i;
        // Integer parts are short (logged values are mostly below 10): a byte at a time beats a failed eight-byte check.
        uint d;
        while (i < length && (d = (uint)(Unsafe.Add(ref s, i) - '0')) <= 9)
        {
            w = w * 10 + d;
            i++;
        }
        var significant = i - significantStart;
        sawDigit |= significant > 0;
        var exponent = 0;
        if (i < length && Unsafe.Add(ref s, i) == (byte)'.')
        {
            i++;
            var fractionStart = i;
            // Zeros right after the point are not significant while nothing significant came before them.
            if (significant == 0)
            {
                while (i < length && Unsafe.Add(ref s, i) == (byte)'0') i++;
            }
            var fractionSignificantStart = i;
            Digits(ref s, length, ref i, ref w);
            significant += i - fractionSignificantStart;
            exponent = fractionStart - i;
            sawDigit |= i > fractionStart;
        }
        if (!sawDigit || significant > 19) return 0;
        if (i < length && (Unsafe.Add(ref s, i) | 0x20) == (byte)'e')
        {
            var j = i + 1;
            var negativeExponent = false;
            if (j < length && (Unsafe.Add(ref s, j) == (byte)'-' || Unsafe.Add(ref s, j) == (byte)'+'))
            {
                negativeExponent = Unsafe.Add(ref s, j) == (byte)'-';
                j++;
            }
            var exponentStart = j;
            var e = 0;
            while (j < length && (d = (uint)(Unsafe.Add(ref s, j) - '0')) <= 9)
            {
                // Saturate: any exponent this large already means 0 or infinity.
                if (e < 100_000) e = e * 10 + (int)d;
                j++;
            }
            if (j == exponentStart) return 0;
            exponent += negativeExponent ? -e : e;
            i = j;
        }
        double magnitude;
        if (w == 0) magnitude = 0;
        else if (w <= 1UL << 53 && (uint)(exponent + 22) <= 44)
        {
            magnitude = exponent < 0 ? w / ExactPowersOfTen[-exponent] : w * ExactPowersOfTen[exponent];
        }
        else if (!EiselLemire(w, exponent, out magnitude)) return 0;
        value = negative ? -magnitude : magnitude;
        return i;
    }

    /// <summary>Appends the run of digits at <paramref name="i"/> to <paramref name="w"/>, eight at a time while it can.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Digits(ref byte s, int length, ref int i, ref ulong w)
    {
        uint d;
        while (length - i >= 8 && EightDigits(ref Unsafe.Add(ref s, i), out var eight))
        {
            w = w * 100_000_000 + eight;
            i += 8;
        }
        while (i < length && (d = (uint)(Unsafe.Add(ref s, i) - '0')) <= 9)
        {
            w = w * 10 + d;
            i++;
        }
    }

    /// <summary>Eight ASCII digits at once (SWAR): checks and converts the 8 bytes at <paramref name="at"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool EightDigits(ref byte at, out uint value)
    {
        var v = Unsafe.ReadUnaligned<ulong>(ref at);
        if (!BitConverter.IsLittleEndian) v = BinaryPrimitives.ReverseEndianness(v);
        // Each byte is a digit when its high nibble is 3 and adding 6 does not carry into the high nibble.
        if (((v & 0xF0F0F0F0F0F0F0F0) | (((v + 0x0606060606060606) & 0xF0F0F0F0F0F0F0F0) >> 4)) != 0x3333333333333333)
        {
            value = 0;
            return false;
        }
        v -= 0x3030303030303030;
        v = v * 10 + (v >> 8);
        v = (((v & 0x000000FF000000FF) * (100 + (1_000_000UL << 32))) + (((v >> 16) & 0x000000FF000000FF) * (1 + (10_000UL << 32)))) >> 32;
        value = (uint)v;
        return true;
    }

    /// <summary>
    /// Parses a whole cell as a number: the fast paths first, then the runtime's parser (surrounding blanks, more
    /// than 19 digits, <c>Infinity</c>). Missing-value tokens are the caller's business (<see cref="IsMissing"/>).
    /// </summary>
    public static bool TryParseCell(ReadOnlySpan<byte> cell, out double value)
    {
        var n = ParsePrefix(cell, out value);
        if (n > 0 && n == cell.Length) return true;
        var trimmed = CsvCells.Trim(cell);
        if (TryParseInfinity(trimmed, out value)) return true;
        // Hex, thousands separators and the like are not numbers in a CSV log; NumberStyles.Float keeps to
        // sign, digits, point and exponent.
        return double.TryParse(trimmed, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && !double.IsNaN(value);
    }

    /// <summary>True for an empty or blank cell and for pandas's default missing-value tokens such as <c>NaN</c>.</summary>
    public static bool IsMissing(ReadOnlySpan<byte> cell)
    {
        var trimmed = CsvCells.Trim(cell);
        if (trimmed.IsEmpty) return true;
        if (trimmed.Length > 8) return false;
        foreach (var token in MissingTokens)
        {
            if (trimmed.SequenceEqual(token)) return true;
        }
        return false;
    }

    /// <summary>Parses a whole cell as a 64-bit integer (optional sign, digits, surrounding blanks).</summary>
    public static bool TryParseInteger(ReadOnlySpan<byte> cell, out long value) =>
        long.TryParse(CsvCells.Trim(cell), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);

    // pandas reads inf, +inf, -inf, Infinity and -Infinity in any letter case; .NET writes "Infinity".
    private static bool TryParseInfinity(ReadOnlySpan<byte> text, out double value)
    {
        value = 0;
        var negative = false;
        if (!text.IsEmpty && (text[0] == (byte)'-' || text[0] == (byte)'+'))
        {
            negative = text[0] == (byte)'-';
            text = text[1..];
        }
        if (!Ascii.EqualsIgnoreCase(text, "inf"u8) && !Ascii.EqualsIgnoreCase(text, "infinity"u8)) return false;
        value = negative ? double.NegativeInfinity : double.PositiveInfinity;
        return true;
    }

    /// <summary>
    /// w × 10^q correctly rounded for a nonzero w (Lemire, "Number Parsing at a Gigabyte per Second", 2021): one or
    /// two 64×64-bit products with a truncated 128-bit power of five give the 54 leading bits of the result, which
    /// settle the rounding except in a rarely reached case that this reports as false.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool EiselLemire(ulong w, int q, out double value)
    {
        value = 0;
        if (q < PowersOfFive.Smallest) return true;
        if (q > PowersOfFive.Largest)
        {
            value = double.PositiveInfinity;
            return true;
        }
        var leadingZeros = BitOperations.LeadingZeroCount(w);
        w <<= leadingZeros;
        PowersOfFive.Get(q, out var powerHigh, out var powerLow);
        var high = Math.BigMul(w, powerHigh, out var low);
        // 52 mantissa bits + hidden bit + rounding bit + a possible leading zero: when the nine bits below them are
        // all ones, a carry from the lower product could still reach them.
        const ulong precisionMask = ulong.MaxValue >> 55;
        if ((high & precisionMask) == precisionMask)
        {
            var secondHigh = Math.BigMul(w, powerLow, out _);
            low += secondHigh;
            if (secondHigh > low) high++;
        }
        // Only for 5^q < 2^128 is the product above exact; elsewhere an all-ones low word is too close to call.
        if (low == ulong.MaxValue && (q < -27 || q > 55)) return false;
        var upperBit = (int)(high >> 63);
        var mantissa = high >> (upperBit + 9);
        var power2 = ((q * (152_170 + 65_536)) >> 16) + 63 + upperBit - leadingZeros + 1023;
        if (power2 <= 0)
        {
            if (-power2 + 1 >= 64) return true;
            mantissa >>= -power2 + 1;
            mantissa += mantissa & 1;
            mantissa >>= 1;
            // Rounding up can carry a subnormal into the smallest normal number.
            power2 = mantissa < 1UL << 52 ? 0 : 1;
            value = BitConverter.UInt64BitsToDouble(((ulong)power2 << 52) | (mantissa & ((1UL << 52) - 1)));
            return true;
        }
        // An exact halfway case (possible only for small |q|, where the product is exact) rounds to even.
        if (low <= 1 && q >= -4 && q <= 23 && (mantissa & 3) == 1 && mantissa << (upperBit + 9) == high)
        {
            mantissa &= ~1UL;
        }
        mantissa += mantissa & 1;
        mantissa >>= 1;
        if (mantissa >= 2UL << 52)
        {
            mantissa = 1UL << 52;
            power2++;
        }
        mantissa &= ~(1UL << 52);
        value = power2 >= 0x7FF ? double.PositiveInfinity : BitConverter.UInt64BitsToDouble(((ulong)power2 << 52) | mantissa);
        return true;
    }
}
