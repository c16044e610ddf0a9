using System.Buffers.Binary;
using System.IO.Compression;
using Kiln.IO;

namespace Kiln.Train.Data;

/// <summary>
/// Reads and writes IDX files, the MNIST format: a big-endian magic <c>0x0000TTDD</c> (T the element type, D the
/// number of dimensions), D big-endian 32-bit sizes, then the elements. Files may be gzip-compressed; that is
/// told by the gzip magic bytes, not the file name, because copies are often renamed or unpacked in place.
/// </summary>
public static class IdxReader
{
    /// <summary>Unsigned bytes, three dimensions (count, rows, columns).</summary>
    public const int ImageMagic = 0x00000803;

    /// <summary>Unsigned bytes, one dimension (count).</summary>
    public const int LabelMagic = 0x00000801;

    private const int ImageHeaderSize = 16;
    private const int LabelHeaderSize = 8;

    /// <summary>Reads an image file (magic 0x00000803): every pixel of every image, image after image, row-major.</summary>
    /// <exception cref="InvalidDataException">The file is not an IDX image file, or its size disagrees with its header.</exception>
    public static (int Count, int Rows, int Cols, byte[] Pixels) ReadImages(string path)
    {
        using var stream = Open(path, out var gzipSize);
        Span<byte> header = stackalloc byte[ImageHeaderSize];
        var got = ReadFull(stream, header[..4], path);
        CheckMagic(header[..got], ImageMagic, "image", "unsigned bytes, 3 dimensions", path);
        got += ReadFull(stream, header[4..], path);
        if (got < ImageHeaderSize)
            throw new InvalidDataException($"{path}: truncated header: an IDX image file needs {ImageHeaderSize} header bytes, the file holds {got}");

        var count = Dim(header, 4, "image count", path);
        var rows = Dim(header, 8, "row count", path);
        var cols = Dim(header, 12, "column count", path);
        if (rows == 0 || cols == 0) throw new InvalidDataException($"{path}: image size {rows}x{cols} is empty");
        var expected = (long)count * rows * cols;
        if (expected > Array.MaxLength)
            throw new InvalidDataException($"{path}: header says {count} images of {rows}x{cols}, {expected} bytes, more than one array can hold");

        var pixels = ReadPayload(stream, path, expected, Hint(gzipSize, ImageHeaderSize + expected),
            held => $"{path}: truncated: header says {count} images of {rows}x{cols}, file holds {held} bytes of pixels",
            extra => $"{path}: trailing data: header says {count} images of {rows}x{cols} ({expected} bytes of pixels), file holds {extra} bytes more");
        return (count, rows, cols, pixels);
    }

    /// <summary>Reads a label file (magic 0x00000801): one byte per sample.</summary>
    /// <exception cref="InvalidDataException">The file is not an IDX label file, or its size disagrees with its header.</exception>
    public static byte[] ReadLabels(string path)
    {
        using var stream = Open(path, out var gzipSize);
        Span<byte> header = stackalloc byte[LabelHeaderSize];
        var got = ReadFull(stream, header[..4], path);
        CheckMagic(header[..got], LabelMagic, "label", "unsigned bytes, 1 dimension", path);
        got += ReadFull(stream, header[4..], path);
        if (got < LabelHeaderSize)
            throw new InvalidDataException($"{path}: truncated header: an IDX label file needs {LabelHeaderSize} header bytes, the file holds {got}");

        var count = Dim(header, 4, "label count", path);
        return ReadPayload(stream, path, count, Hint(gzipSize, LabelHeaderSize + (long)count),
            held => $"{path}: truncated: header says {count} labels, file holds {held}",
            extra => $"{path}: trailing data: header says {count} labels, file holds {extra} bytes more");
    }

    /// <summary>Writes <paramref name="count"/> images of <paramref name="rows"/>×<paramref name="cols"/> pixels, atomically.</summary>
    public static void WriteImages(string path, int count, int rows, int cols, ReadOnlySpan<byte> pixels, bool gzip = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cols);
        if (pixels.Length != (long)count * rows * cols)
            throw new ArgumentException($"{count} images of {rows}x{cols} need {(long)count * rows * cols} pixels, got {pixels.Length}", nameof(pixels));
        Span<byte> header = stackalloc byte[ImageHeaderSize];
        BinaryPrimitives.WriteInt32BigEndian(header, ImageMagic);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], count);
        BinaryPrimitives.WriteInt32BigEndian(header[8..], rows);
        BinaryPrimitives.WriteInt32BigEndian(header[12..], cols);
        Write(path, header, pixels, gzip);
    }

    /// <summary>Writes one label byte per sample, atomically.</summary>
    public static void WriteLabels(string path, ReadOnlySpan<byte> labels, bool gzip = false)
    {
        Span<byte> header = stackalloc byte[LabelHeaderSize];
        BinaryPrimitives.WriteInt32BigEndian(header, LabelMagic);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], labels.Length);
        Write(path, header, labels, gzip);
    }

    private static void Write(string path, ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload, bool gzip)
    {
        using var buffer = new MemoryStream(header.Length + payload.Length);
        if (gzip)
        {
            using var z = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true);
            z.Write(header);
            z.Write(payload);
        }
        else
        {
            buffer.Write(header);
            buffer.Write(payload);
        }
        AtomicFile.WriteAllBytes(path, buffer.GetBuffer().AsSpan(0, (int)buffer.Length), durable: false);
    }

    /// <summary>Opens the file, through a decompressor when it starts with the gzip magic.</summary>
    /// <param name="gzipSize">For gzip files, the uncompressed size modulo 2³² that the gzip trailer records; else −1.</param>
    private static Stream Open(string path, out long gzipSize)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try
        {
            gzipSize = -1;
            Span<byte> probe = stackalloc byte[4];
            if (file.ReadAtLeast(probe[..2], 2, throwOnEndOfStream: false) < 2 || probe[0] != 0x1f || probe[1] != 0x8b)
            {
                file.Position = 0;
                return file;
            }
            if (file.Length >= 18)
            {
                file.Seek(-4, SeekOrigin.End);
                file.ReadExactly(probe);
                gzipSize = BinaryPrimitives.ReadUInt32LittleEndian(probe);
            }
            file.Position = 0;
            return new GZipStream(file, CompressionMode.Decompress);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// How much to allocate up front: all of it when the file can hold it, so a well-formed file is read into one
    /// exact buffer; otherwise a little, so a header that lies about its size cannot make us allocate gigabytes.
    /// </summary>
    private static long Hint(long gzipSize, long totalSize) =>
        gzipSize < 0 || gzipSize == (totalSize & 0xFFFFFFFF) ? totalSize : 0;

    private static byte[] ReadPayload(Stream stream, string path, long expected, long hint, Func<long, string> truncated, Func<long, string> trailing)
    {
        if (stream is FileStream raw) hint = Math.Min(hint, raw.Length - raw.Position);
        var buffer = new byte[(int)Math.Clamp(hint, Math.Min(expected, 1 << 20), expected)];
        var filled = 0;
        while (filled < expected)
        {
            if (filled == buffer.Length) Array.Resize(ref buffer, (int)Math.Min(expected, 2L * buffer.Length));
            var n = Read(stream, buffer.AsSpan(filled), path);
            if (n == 0) throw new InvalidDataException(truncated(filled));
            filled += n;
        }

        long extra = 0;
        var scratch = new byte[4096];
        int m;
        while ((m = Read(stream, scratch, path)) > 0) extra += m;
        if (extra > 0) throw new InvalidDataException(trailing(extra));
        return buffer;
    }

    private static void CheckMagic(ReadOnlySpan<byte> magic, int expected, string kind, string layout, string path)
    {
        if (magic.Length < 4) throw new InvalidDataException($"{path}: not an IDX {kind} file (only {magic.Length} bytes)");
        var actual = BinaryPrimitives.ReadInt32BigEndian(magic);
        if (actual != expected)
            throw new InvalidDataException($"{path}: not an IDX {kind} file (magic 0x{actual:X8}; expected 0x{expected:X8}, {layout})");
    }

    private static int Dim(ReadOnlySpan<byte> header, int offset, string what, string path)
    {
        var value = BinaryPrimitives.ReadUInt32BigEndian(header[offset..]);
        if (value > int.MaxValue) throw new InvalidDataException($"{path}: {what} {value} in the header is too large");
        return (int)value;
    }

    private static int ReadFull(Stream stream, Span<byte> buffer, string path)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var n = Read(stream, buffer[total..], path);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    private static int Read(Stream stream, Span<byte> buffer, string path)
    {
        try
        {
            return stream.Read(buffer);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: corrupt gzip data: {e.Message}", e);
        }
    }
}
