using System.Globalization;

namespace Kiln.Server.Hosting;

/// <summary>
/// A whole number bound from the query string (<c>QueryNumber? points</c>: null when left out). One that is not a whole
/// number (a hand-typed URL) has no <see cref="Value"/>, and the endpoint's default applies, as it always has.
/// </summary>
internal readonly record struct QueryNumber(long? Value)
{
    public static bool TryParse(string? text, IFormatProvider? provider, out QueryNumber number)
    {
        number = new(long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null);
        return true;
    }

    /// <summary>The number brought within [<paramref name="min"/>, <paramref name="max"/>], or <paramref name="fallback"/> when there is none.</summary>
    public static int Clamp(QueryNumber? number, int fallback, int min, int max) =>
        number?.Value is { } v ? (int)Math.Clamp(v, min, max) : fallback;
}
