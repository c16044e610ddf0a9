using Kiln.Train.Data;

namespace Kiln.Train.Tests;

/// <summary>Small datasets and counts the data tests share.</summary>
internal static class TestData
{
    /// <summary>Samples 0..count-1 with features (2i, 2i+1), labels i mod classes and, on request, targets -i.</summary>
    public static Dataset Numbered(int count, int classes = 3, bool targets = false) => new(
        "numbered",
        Enumerable.Range(0, count * 2).Select(i => (float)i).ToArray(),
        [2],
        Enumerable.Range(0, count).Select(i => i % classes).ToArray(),
        classes,
        targets ? Enumerable.Range(0, count).Select(i => -(float)i).ToArray() : null,
        targets ? 1 : 0);

    /// <summary>How many labels fall in each class.</summary>
    public static int[] Counts(int[] labels, int classes)
    {
        var counts = new int[classes];
        foreach (var l in labels) counts[l]++;
        return counts;
    }
}
