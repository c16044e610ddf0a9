using System.Buffers;
using System.Text;
using System.Text.Unicode;
using System.Text.Json.Nodes;
using YamlDotNet.Core;

namespace Kiln.Protocol;

/// <summary>
/// Reads YAML into JSON nodes with the YAML 1.2 core schema: <c>1e-4</c> and <c>0</c> are numbers,
/// <c>true</c>/<c>false</c> are booleans, <c>yes</c>/<c>on</c> stay strings, and quoted scalars are always strings.
/// Whatever the input, the only exception is a <see cref="ProtocolException"/> carrying the line and column: a
/// document is at most <see cref="MaxBytes"/> of UTF-8, nests at most <see cref="MaxDepth"/> levels, and its aliases
/// expand to at most <see cref="MaxAliasNodes"/> nodes (a recursive alias is refused).
/// </summary>
public static class YamlJson
{
    /// <summary>The largest YAML document read (1 MiB).</summary>
    public const int MaxBytes = 1 << 20;

    /// <summary>How deep mappings and sequences nest at most.</summary>
    public const int MaxDepth = JsonValues.MaxDepth;

    /// <summary>How many nodes aliases may add to a document, in all.</summary>
    public const int MaxAliasNodes = 100_000;

    public static JsonNode? ParseFile(string path)
    {
        var bytes = ReadFile(path);
        try { return Parse(bytes); }
        catch (ProtocolException ex) { throw ex.InFile(path); }
    }

    /// <summary>Reads a YAML document from its UTF-8 bytes (a byte-order mark is skipped).</summary>
    public static JsonNode? Parse(ReadOnlySpan<byte> utf8)
    {
        if (utf8.Length > MaxBytes) throw TooLarge(utf8.Length);
        if (utf8.StartsWith("\uFEFF"u8)) utf8 = utf8[3..];
        var chars = new char[utf8.Length];
        if (Utf8.ToUtf16(utf8, chars, out var read, out var written, replaceInvalidSequences: false) != OperationStatus.Done)
        {
            var (line, column) = Position(chars.AsSpan(0, written));
            throw new ProtocolException($"line {line}, column {column}: not valid UTF-8 (byte 0x{utf8[read]:X2}); save the file as UTF-8");
        }
        return Parse(new string(chars, 0, written));
    }

    public static JsonNode? Parse(string text)
    {
        if (text.Length > MaxBytes || Encoding.UTF8.GetByteCount(text) > MaxBytes) throw TooLarge(Encoding.UTF8.GetByteCount(text));
        if (JsonCheck.LoneSurrogateAt(text) is var at and >= 0)
        {
            var (line, column) = Position(text.AsSpan(0, at));
            throw new ProtocolException($"line {line}, column {column}: not text (a lone surrogate)");
        }
        try
        {
            return YamlLoader.Load(text);
        }
        catch (YamlException ex)
        {
            var inner = ex.InnerException is YamlException ie ? ie.Message : ex.Message;
            throw new ProtocolException($"line {ex.Start.Line}, column {ex.Start.Column}: {Clean(inner)}", ex);
        }
    }

    internal static string Clean(string message) => message.Replace("\r", "", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

    private static ProtocolException TooLarge(long bytes) =>
        new($"{bytes} bytes is too large for a YAML file (at most {MaxBytes} bytes)");

    private static (int Line, int Column) Position(ReadOnlySpan<char> before)
    {
        var line = before.Count('\n') + 1;
        var column = before.Length - (before.LastIndexOf('\n') + 1) + 1;
        return (line, column);
    }

    /// <summary>The bytes of a file of at most <see cref="MaxBytes"/>; an unreadable or oversized file is a <see cref="ProtocolException"/>.</summary>
    private static byte[] ReadFile(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            if (stream.Length > MaxBytes) throw TooLarge(stream.Length).InFile(path);
            var bytes = new byte[MaxBytes + 1];
            var read = stream.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false);
            if (read > MaxBytes) throw TooLarge(read).InFile(path);
            return bytes[..read];
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ProtocolException($"{path}: file not found");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ProtocolException($"{path}: cannot read: {ex.Message}");
        }
    }

    /// <summary>Reads a JSON or YAML file by its extension.</summary>
    public static JsonNode? ParseJsonOrYaml(string path)
    {
        var ext = System.IO.Path.GetExtension(path).ToLowerInvariant();
        if (ext is ".yaml" or ".yml") return ParseFile(path);
        var bytes = ReadFile(path);
        try { return JsonValues.ParseDocument(bytes, "content"); }
        catch (ProtocolException ex) { throw ex.InFile(path); }
    }
}
