using Kiln.Protocol;
using Microsoft.Win32.SafeHandles;

namespace Kiln.Metrics.Epochs;

/// <summary>
/// An open batch log and its line structure, found by reading only around the places asked about: the header, where
/// the complete lines end, the line starting at or after an offset, the line before one, a line's number. Its length
/// is taken once, at opening: a trainer appending meanwhile only adds lines the next reading will see.
/// </summary>
internal sealed class BatchLogFile : IDisposable
{
    private const int Chunk = 4096;

    private BatchLogFile(string path, SafeFileHandle handle)
    {
        Path = path;
        Handle = handle;
        Length = RandomAccess.GetLength(handle);
    }

    public string Path { get; }
    public SafeFileHandle Handle { get; }
    public long Length { get; }

    /// <summary>The offset just after the header line.</summary>
    public long DataStart { get; private set; }

    /// <summary>The offset just after the last newline: lines past it are still being written.</summary>
    public long DataEnd { get; private set; }

    /// <summary>Opens the log and reads its header line; an empty file or a header without its newline is an error.</summary>
    public static BatchLogFile Open(string path, out BatchLogHeader header)
    {
        var file = new BatchLogFile(path, File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.SequentialScan));
        try
        {
            var end = file.LineStartAtOrAfter(1);
            if (end < 0)
            {
                throw new ProtocolException(file.Length == 0
                    ? $"{path}: the file is empty; a header line naming the columns (epoch, mode, …) is required"
                    : $"{path}: the header line has no newline (torn write?); a complete header is required");
            }
            header = BatchLogHeader.Parse(path, file.Read(0, (int)end));
            file.DataStart = end;
            file.DataEnd = file.LastLineEnd();
            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>The first line start at or after <paramref name="offset"/> (which must be at least 1), or -1 when no newline follows.</summary>
    public long LineStartAtOrAfter(long offset)
    {
        var buffer = new byte[Chunk];
        for (var at = offset - 1; at < Length; at += Chunk)
        {
            var n = ReadAt(buffer, at);
            var newline = buffer.AsSpan(0, n).IndexOf((byte)'\n');
            if (newline >= 0) return at + newline + 1;
        }
        return -1;
    }

    /// <summary>The line before the one starting at <paramref name="start"/>, with its newline; empty at the first data line.</summary>
    public byte[] LineBefore(long start)
    {
        for (var size = Chunk; ; size *= 2)
        {
            var from = Math.Max(DataStart, start - size);
            var text = Read(from, (int)(start - from));
            if (text.Length == 0) return text;
            var newline = text.AsSpan(0, text.Length - 1).LastIndexOf((byte)'\n');
            if (newline >= 0) return text[(newline + 1)..];
            if (from == DataStart) return text;
        }
    }

    /// <summary>The 1-based number of the line starting at <paramref name="offset"/>.</summary>
    public long LineNumber(long offset)
    {
        var buffer = new byte[1 << 20];
        long line = 1;
        for (long at = 0; at < offset;)
        {
            var n = RandomAccess.Read(Handle, buffer.AsSpan(0, (int)Math.Min(buffer.Length, offset - at)), at);
            if (n == 0) break;
            line += buffer.AsSpan(0, n).Count((byte)'\n');
            at += n;
        }
        return line;
    }

    public void Dispose() => Handle.Dispose();

    private long LastLineEnd()
    {
        var buffer = new byte[Chunk];
        for (var end = Length; end > DataStart; end -= Chunk)
        {
            var from = Math.Max(DataStart, end - Chunk);
            var n = ReadAt(buffer.AsSpan(0, (int)(end - from)), from);
            var newline = buffer.AsSpan(0, n).LastIndexOf((byte)'\n');
            if (newline >= 0) return from + newline + 1;
        }
        return DataStart;
    }

    private byte[] Read(long offset, int count)
    {
        var bytes = new byte[count];
        if (ReadAt(bytes, offset) != count) throw new IOException($"{Path}: the file shrank while being read");
        return bytes;
    }

    private int ReadAt(Span<byte> buffer, long offset)
    {
        var done = 0;
        while (done < buffer.Length && offset + done < Length)
        {
            var n = RandomAccess.Read(Handle, buffer[done..(int)Math.Min(buffer.Length, Length - offset)], offset + done);
            if (n == 0) throw new IOException($"{Path}: the file shrank while being read");
            done += n;
        }
        return done;
    }
}
