using System.Globalization;

namespace Kiln.Bench;

/// <summary>Prints one <c>name value unit</c> line per figure, with the peer's figure and the target beside it.</summary>
internal static class Figures
{
    public static void Print(string name, double value, string unit, string? note = null) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name} {Format(value)} {unit}{(note is null ? "" : "  # " + note)}"));

    private static string Format(double v) =>
        Math.Abs(v) >= 100 ? v.ToString("0", CultureInfo.InvariantCulture)
        : Math.Abs(v) >= 1 ? v.ToString("0.###", CultureInfo.InvariantCulture)
        : v.ToString("0.####", CultureInfo.InvariantCulture);

    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        if (sorted.Count == 0) return double.NaN;
        var rank = p / 100.0 * (sorted.Count - 1);
        var lo = (int)Math.Floor(rank);
        var hi = (int)Math.Ceiling(rank);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
    }
}
