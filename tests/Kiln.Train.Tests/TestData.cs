using System.Buffers.Binary;
using System.IO.Compression;
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

    /// <summary>Bytes of a recognisable pattern.</summary>
    public static byte[] Pattern(int length) => Enumerable.Range(0, length).Select(i => (byte)(i * 7 + 3)).ToArray();

    /// <summary>The gzip compression of <paramref name="raw"/>.</summary>
    public static byte[] Gzip(byte[] raw)
    {
        using var buffer = new MemoryStream();
        using (var z = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true)) z.Write(raw);
        return buffer.ToArray();
    }

    /// <summary>An IDX header: big-endian 32-bit words.</summary>
    public static byte[] Header(params uint[] words)
    {
        var bytes = new byte[4 * words.Length];
        for (var i = 0; i < words.Length; i++) BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4 * i), words[i]);
        return bytes;
    }

    /// <summary>How many labels fall in each class.</summary>
    public static int[] Counts(int[] labels, int classes)
    {
        var counts = new int[classes];
        foreach (var l in labels) counts[l]++;
        return counts;
    }
}
