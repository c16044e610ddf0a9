using Microsoft.Win32.SafeHandles;

namespace Kiln.IO;

/// <summary>One complete line read by <see cref="JsonlTail"/>. <see cref="Bytes"/> is valid until the next poll.</summary>
public readonly record struct JsonlLine(long Offset, long Number, ReadOnlyMemory<byte> Bytes, long Length)
{
    /// <summary>The line is longer than the limit; <see cref="Bytes"/> is empty and the line was skipped.</summary>
    public bool Oversized => Bytes.Length == 0 && Length > 0;
}

/// <summary>
/// Reads the complete lines appended to a JSONL file since the last poll. A trailing line without its
/// newline is left for a later poll (a writer may be half way through it); a line over the size limit
/// is reported as oversized without being held in memory; a file that shrank is read again from the start.
/// </summary>
public sealed class JsonlTail
{
    private const int ChunkBytes = 1 << 16;
    private readonly string _path;
    private readonly int _maxLineBytes;
    private byte[] _buffer = new byte[ChunkBytes];
    private long _offset;
    private long _number;
    private long _skipStart = -1;
    private long _skipNumber;
    private long _scan;

    /// <param name="startOffset">Where to start reading: 0, or an offset this class reported (a line start).</param>
    public JsonlTail(string path, int maxLineBytes = JsonlFile.MaxLineBytes, long startOffset = 0)
    {
        _path = path;
        _maxLineBytes = maxLineBytes;
        _offset = Math.Max(0, startOffset);
    }

    public string Path => _path;

    /// <summary>Byte offset of the first line not yet returned.</summary>
    public long Offset => _offset;

    /// <summary>Number of lines returned or skipped so far.</summary>
    public long LinesRead => _number;

    /// <summary>Bytes after the last complete line at the last poll (a torn or in-progress line).</summary>
    public long PendingBytes { get; private set; }

    /// <summary>Set by a poll that found the file shorter than what was read: it was replaced or truncated.</summary>
    public bool Restarted { get; private set; }

    /// <summary>Reads new complete lines into <paramref name="lines"/> (cleared first); returns how many.</summary>
    /// <summary>
    /// The offset just past the last newline before <paramref name="before"/> (0 when there is none): with the file's
    /// length, where its complete lines end; with the end of a line, where that line starts.
    /// </summary>
    public static long AfterLastNewline(SafeFileHandle handle, long before)
    {
        Span<byte> buffer = stackalloc byte[4096];
        for (var end = before; end > 0; end -= buffer.Length)
        {
            var start = Math.Max(0, end - buffer.Length);
            var n = RandomAccess.Read(handle, buffer[..(int)(end - start)], start);
            var nl = buffer[..n].LastIndexOf((byte)'\n');
            if (nl >= 0) return start + nl + 1;
        }
        return 0;
    }

    /// <summary>
    /// Gives back the memory a large read grew the buffer to. The lines of the last <see cref="Poll"/> point into the
    /// buffer, so call it only once they have been used.
    /// </summary>
    public void TrimBuffer()
    {
        if (_buffer.Length > ChunkBytes) _buffer = new byte[ChunkBytes];
    }

    public int Poll(List<JsonlLine> lines, int maxBytes = 4 << 20)
    {
        lines.Clear();
        Restarted = false;
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(_path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (FileNotFoundException) { return 0; }
        catch (DirectoryNotFoundException) { return 0; }
        using (handle)
        {
            var length = RandomAccess.GetLength(handle);
            if (length < Math.Max(_offset, _skipStart >= 0 ? _scan : 0))
            {
                _offset = 0;
                _number = 0;
                _skipStart = -1;
                Restarted = true;
            }
            if (_skipStart >= 0 && !SkipOversized(handle, length, lines)) return lines.Count;
            ReadLines(handle, length, lines, Math.Max(maxBytes, _maxLineBytes + 1));
            return lines.Count;
        }
    }

    private void ReadLines(SafeFileHandle handle, long length, List<JsonlLine> lines, int maxBytes)
    {
        var available = length - _offset;
        PendingBytes = available;
        if (available <= 0) return;
        var toRead = (int)Math.Min(available, maxBytes);
        if (_buffer.Length < toRead) _buffer = new byte[Math.Max(toRead, _buffer.Length * 2)];
        var read = 0;
        while (read < toRead)
        {
            var n = RandomAccess.Read(handle, _buffer.AsSpan(read, toRead - read), _offset + read);
            if (n == 0) break;
            read += n;
        }
        var start = 0;
        while (start < read)
        {
            var nl = _buffer.AsSpan(start, read - start).IndexOf((byte)'\n');
            if (nl < 0) break;
            var lineLength = nl;
            var content = lineLength > 0 && _buffer[start + lineLength - 1] == (byte)'\r' ? lineLength - 1 : lineLength;
            _number++;
            if (lineLength > _maxLineBytes)
                lines.Add(new JsonlLine(_offset + start, _number, ReadOnlyMemory<byte>.Empty, lineLength));
            else if (!IsBlank(_buffer.AsSpan(start, content)))
                lines.Add(new JsonlLine(_offset + start, _number, _buffer.AsMemory(start, content), content));
            start += nl + 1;
        }
        var rest = read - start;
        var restOffset = _offset + start;
        _offset = restOffset;
        PendingBytes = length - _offset;
        if (rest > _maxLineBytes)
        {
            // An unfinished line already past the limit: skip it without buffering it.
            _skipStart = restOffset;
            _skipNumber = _number + 1;
            _scan = restOffset + rest;
        }
    }

    private bool SkipOversized(SafeFileHandle handle, long length, List<JsonlLine> lines)
    {
        Span<byte> chunk = stackalloc byte[4096];
        while (_scan < length)
        {
            var n = RandomAccess.Read(handle, chunk, _scan);
            if (n == 0) break;
            var nl = chunk[..n].IndexOf((byte)'\n');
            if (nl >= 0)
            {
                var end = _scan + nl;
                lines.Add(new JsonlLine(_skipStart, _skipNumber, ReadOnlyMemory<byte>.Empty, end - _skipStart));
                _number = _skipNumber;
                _offset = end + 1;
                _skipStart = -1;
                return true;
            }
            _scan += n;
        }
        PendingBytes = length - _skipStart;
        return false;
    }

    private static bool IsBlank(ReadOnlySpan<byte> line)
    {
        foreach (var b in line)
        {
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r')) return false;
        }
        return true;
    }

    /// <summary>
    /// Reads every complete line of a file once, from the start; a torn last line is not returned. Returns how many
    /// bytes follow the last complete line (a line being written, or left by a writer killed mid-line).
    /// </summary>
    public static long ReadAll(string path, Action<JsonlLine> onLine, int maxLineBytes = JsonlFile.MaxLineBytes)
    {
        var tail = new JsonlTail(path, maxLineBytes);
        var lines = new List<JsonlLine>();
        while (true)
        {
            var before = tail.Offset;
            tail.Poll(lines);
            foreach (var line in lines) onLine(line);
            if (tail.Offset == before && lines.Count == 0) break;
        }
        try
        {
            return Math.Max(0, new FileInfo(path).Length - tail.Offset);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    /// <summary>What a reader says of the bytes after a file's last complete line.</summary>
    public static string TornTail(string file, long bytes) =>
        $"{file}: its last line is incomplete ({bytes} bytes, left out): a writer is writing it now, or was killed mid-line";
}
