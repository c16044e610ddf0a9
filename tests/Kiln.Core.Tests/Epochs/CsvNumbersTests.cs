using System.Globalization;
using System.Text;
using Kiln.Metrics.Epochs;

namespace Kiln.Core.Tests;

/// <summary>The batch log's number parser: the exact bits of double.Parse, on its fast paths almost always.</summary>
public sealed class CsvNumbersTests
{
    [Fact]
    public void The_fast_number_parser_agrees_with_double_parse_on_random_numbers()
    {
        var rng = new Random(12345);
        string[] formats = ["R", "G6", "E3", "G17", "F4", "0.###############"];
        var fast = 0;
        var total = 0;
        for (var i = 0; i < 300_000; i++)
        {
            var v = (i % 3) switch
            {
                // Any finite double, subnormals included.
                0 => RandomBits(rng),
                1 => (rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-30, 31)),
                _ => Math.Round(rng.NextDouble() * 1000, rng.Next(0, 6)),
            };
            var text = v.ToString(formats[i % formats.Length], CultureInfo.InvariantCulture);
            if (rng.Next(4) == 0 && text[0] != '-') text = "+" + text;
            total++;
            if (Check(text)) fast++;
        }
        for (var i = 0; i < 100_000; i++)
        {
            // Digit strings of every length, points anywhere and exponents across the whole range.
            var digits = string.Concat(Enumerable.Range(0, rng.Next(1, 24)).Select(_ => (char)('0' + rng.Next(10))));
            var point = rng.Next(digits.Length + 1);
            var text = (rng.Next(2) == 0 ? "-" : "") + digits[..point] + "." + digits[point..];
            if (rng.Next(3) > 0) text += (rng.Next(2) == 0 ? "e" : "E") + (rng.Next(3) switch { 0 => "-", 1 => "+", _ => "" }) + rng.Next(0, 360);
            total++;
            if (Check(text)) fast++;
        }
        // The fast paths, not the fallback, must carry almost all of it.
        Assert.True(fast > total * 0.8, $"{fast} of {total} parsed on the fast paths");
    }

    [Theory]
    [InlineData("9007199254740993")]
    [InlineData("9007199254740995")]
    [InlineData("9007199254740992.5")]
    [InlineData("2.2250738585072011e-308")]
    [InlineData("2.2250738585072012e-308")]
    [InlineData("2.2250738585072014e-308")]
    [InlineData("4.9406564584124654e-324")]
    [InlineData("2.4703282292062327e-324")]
    [InlineData("2.4703282292062328e-324")]
    [InlineData("1.7976931348623157e308")]
    [InlineData("1.7976931348623158e308")]
    [InlineData("1.7976931348623159e308")]
    [InlineData("1e23")]
    [InlineData("8.98846567431158e307")]
    [InlineData("1e-400")]
    [InlineData("1e400")]
    [InlineData("-0")]
    [InlineData("0e10")]
    [InlineData("000000000000000000000001.5")]
    [InlineData("0.000000000000000000000000000001234")]
    [InlineData("1234567890123456789")]
    [InlineData("12345678901234567890")]
    [InlineData("1.")]
    [InlineData(".5")]
    [InlineData("-.5e-3")]
    [InlineData("+5E+2")]
    [InlineData("1e+0308")]
    [InlineData("1E-0323")]
    [InlineData("7.2057594037927933e16")]
    [InlineData("3.0517578125e-05")]
    [InlineData("1.00000000000000011102230246251565404236316680908203125")]
    public void Hard_cases_parse_like_double_parse(string text) => Check(text);

    [Theory]
    [InlineData("")]
    [InlineData("-")]
    [InlineData(".")]
    [InlineData("1e")]
    [InlineData("1e+")]
    [InlineData("e5")]
    [InlineData("1_000")]
    [InlineData("0x10")]
    [InlineData("1,5")]
    [InlineData("abc")]
    public void Non_numbers_are_rejected(string text) => Assert.False(CsvNumbers.TryParseCell(Encoding.ASCII.GetBytes(text), out _));

    [Fact]
    public void The_parser_reports_how_far_the_number_reaches()
    {
        Assert.Equal(4, CsvNumbers.ParsePrefix("1.25,7"u8, out var v));
        Assert.Equal(1.25, v);
        Assert.Equal(5, CsvNumbers.ParsePrefix("-3e-2\r\n"u8, out v));
        Assert.Equal(-0.03, v);
        Assert.Equal(0, CsvNumbers.ParsePrefix(",1"u8, out _));
    }

    private static double RandomBits(Random rng)
    {
        while (true)
        {
            var v = BitConverter.Int64BitsToDouble(rng.NextInt64(long.MinValue, long.MaxValue));
            if (double.IsFinite(v)) return v;
        }
    }

    /// <summary>Asserts the parser gives double.Parse's exact bits; true when the fast path took it.</summary>
    private static bool Check(string text)
    {
        var expected = double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
        var bytes = Encoding.ASCII.GetBytes(text);
        Assert.True(CsvNumbers.TryParseCell(bytes, out var parsed), text);
        Assert.True(BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(parsed), $"{text}: expected {expected:R}, got {parsed:R}");
        var consumed = CsvNumbers.ParsePrefix(bytes, out var prefix);
        if (consumed == 0) return false;
        Assert.Equal(bytes.Length, consumed);
        Assert.Equal(BitConverter.DoubleToInt64Bits(expected), BitConverter.DoubleToInt64Bits(prefix));
        return true;
    }
}
