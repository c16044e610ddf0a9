using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.IO;

/// <summary>
/// Appends whole lines to a JSONL file under an advisory lock, so concurrent writers never interleave.
/// A torn last line left by a killed writer is closed with a newline first: it then reads as one bad line
/// (which the kernel ledgers as rejected) instead of swallowing the next good one. A write that fails (a full disk, a
/// read-only file) is taken back whole before the error is thrown.
/// </summary>
public static class JsonlFile
{
    /// <summary>The largest line any Kiln file accepts.</summary>
    public const int MaxLineBytes = 1 << 20;

    public static string LockPathFor(string path) => path + ".lock";

    public static void Append(string path, JsonNode line) => Append(path, [System.Text.Encoding.UTF8.GetBytes(line.ToJsonString())]);

    public static void Append(string path, byte[] line) => Append(path, [line]);

    /// <summary>Appends the lines (given without newlines) in one write.</summary>
    public static void Append(string path, IReadOnlyList<byte[]> lines)
    {
        var total = 0;
        foreach (var line in lines)
        {
            if (line.Length > MaxLineBytes)
                throw new ProtocolException($"{Path.GetFileName(path)}: a line of {line.Length} bytes exceeds the limit of {MaxLineBytes} bytes");
            if (Array.IndexOf(line, (byte)'\n') >= 0)
                throw new ArgumentException("a JSONL line must not contain a newline", nameof(lines));
            total += line.Length + 1;
        }
        using var held = FileLock.Acquire(LockPathFor(path));
        using var handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        var length = RandomAccess.GetLength(handle);
        var prefix = 0;
        if (length > 0)
        {
            Span<byte> last = stackalloc byte[1];
            RandomAccess.Read(handle, last, length - 1);
            if (last[0] != (byte)'\n') prefix = 1;
        }
        var buffer = new byte[prefix + total];
        var at = 0;
        if (prefix == 1) buffer[at++] = (byte)'\n';
        foreach (var line in lines)
        {
            line.CopyTo(buffer, at);
            at += line.Length;
            buffer[at++] = (byte)'\n';
        }
        try
        {
            RandomAccess.Write(handle, buffer, length);
        }
        catch
        {
            // A write cut short (a full disk) leaves part of a line: take it back, so the file still ends with a whole
            // line and the next append does not glue itself to the fragment.
            try { RandomAccess.SetLength(handle, length); }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
            throw;
        }
    }
}
