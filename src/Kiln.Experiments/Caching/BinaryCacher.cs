using System.Runtime.InteropServices;
using System.Text;

namespace Kiln.Experiments.Caching;

/// <summary>
/// Raw bytes: a <c>byte[]</c>, a string (UTF-8), or an array of numbers (<c>float[]</c>, <c>double[]</c>, <c>int[]</c>, …)
/// as their little-endian memory. The fast cacher for large numeric outputs; anything else is refused by name (use
/// <see cref="JsonCacher"/>), never written in a form that cannot be read back.
/// </summary>
public sealed class BinaryCacher : ByteCacher
{
    public override string Extension => ".bin";

    protected override byte[] Encode(object? value, Type type) => value switch
    {
        byte[] b => b,
        string s => Encoding.UTF8.GetBytes(s),
        float[] a => MemoryMarshal.AsBytes(a.AsSpan()).ToArray(),
        double[] a => MemoryMarshal.AsBytes(a.AsSpan()).ToArray(),
        int[] a => MemoryMarshal.AsBytes(a.AsSpan()).ToArray(),
        long[] a => MemoryMarshal.AsBytes(a.AsSpan()).ToArray(),
        short[] a => MemoryMarshal.AsBytes(a.AsSpan()).ToArray(),
        _ => throw new NotSupportedException($"BinaryCacher stores byte[], string and arrays of numbers, not {value?.GetType().Name ?? "null"}; use JsonCacher"),
    };

    protected override object? Decode(byte[] bytes, Type type) => type switch
    {
        _ when type == typeof(byte[]) => bytes,
        _ when type == typeof(string) => Encoding.UTF8.GetString(bytes),
        _ when type == typeof(float[]) => MemoryMarshal.Cast<byte, float>(bytes).ToArray(),
        _ when type == typeof(double[]) => MemoryMarshal.Cast<byte, double>(bytes).ToArray(),
        _ when type == typeof(int[]) => MemoryMarshal.Cast<byte, int>(bytes).ToArray(),
        _ when type == typeof(long[]) => MemoryMarshal.Cast<byte, long>(bytes).ToArray(),
        _ when type == typeof(short[]) => MemoryMarshal.Cast<byte, short>(bytes).ToArray(),
        _ => throw new NotSupportedException($"BinaryCacher cannot read a {type.Name}"),
    };
}
