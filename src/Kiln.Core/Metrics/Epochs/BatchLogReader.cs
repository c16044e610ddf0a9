using Microsoft.Win32.SafeHandles;

namespace Kiln.Metrics.Epochs;

/// <summary>
/// Reads a byte range of a batch log through one buffer and hands it out as runs of whole lines. The buffer keeps
/// its size whatever the file's size; it grows only to hold a single line longer than itself. It is the caller's,
/// to be reused by the next reader.
/// </summary>
internal sealed class BatchLogReader
{
    private readonly SafeFileHandle _handle;
    private readonly long _end;
    private byte[] _buffer;
    // File offset of _buffer[0].
    private long _offset;
    private int _filled;
    // The first byte not handed out yet, and how many bytes from it are known to hold no newline.
    private int _start;
    private int _scanned;

    /// <summary>Reads <c>[start, end)</c> of the open file <paramref name="handle"/> (whose path names it in errors) through <paramref name="buffer"/>.</summary>
    public BatchLogReader(string path, SafeFileHandle handle, long start, long end, byte[] buffer)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(buffer.Length, 16);
        Path = path;
        _handle = handle;
        _offset = start;
        _end = end;
        _buffer = buffer;
    }

    public string Path { get; }

    /// <summary>The buffer, larger than the one given if a line was longer.</summary>
    public byte[] Buffer => _buffer;

    /// <summary>
    /// The next run of whole lines, ending with a newline, and the file offset of its first byte; false at the end of
    /// the range (whose end must be a line's end). The span is valid until the next call.
    /// </summary>
    public bool Next(out ReadOnlySpan<byte> lines, out long offset)
    {
        while (true)
        {
            var from = _start + _scanned;
            var newline = _buffer.AsSpan(from, _filled - from).LastIndexOf((byte)'\n');
            if (newline >= 0)
            {
                var end = from + newline + 1;
                lines = _buffer.AsSpan(_start, end - _start);
                offset = _offset + _start;
                _start = end;
                _scanned = _filled - end;
                return true;
            }
            _scanned = _filled - _start;
            if (_offset + _filled == _end)
            {
                lines = default;
                offset = _end;
                return false;
            }
            Refill();
        }
    }

    /// <summary>Moves the unfinished line to the front (growing the buffer when it fills it) and reads after it.</summary>
    private void Refill()
    {
        if (_start > 0)
        {
            _buffer.AsSpan(_start, _filled - _start).CopyTo(_buffer);
            _offset += _start;
            _filled -= _start;
            _start = 0;
        }
        if (_filled == _buffer.Length)
        {
            var larger = GC.AllocateUninitializedArray<byte>(2 * _buffer.Length);
            _buffer.AsSpan(0, _filled).CopyTo(larger);
            _buffer = larger;
        }
        var count = (int)Math.Min(_buffer.Length - _filled, _end - _offset - _filled);
        var read = RandomAccess.Read(_handle, _buffer.AsSpan(_filled, count), _offset + _filled);
        if (read == 0) throw new IOException($"{Path}: the file shrank while being read");
        _filled += read;
    }
}
