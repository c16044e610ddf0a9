using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace Kiln.Protocol;

/// <summary>
/// What System.Text.Json's reader lets through but a run must not take in: strings and keys that are not text (bytes
/// that are not UTF-8; an escaped lone surrogate such as <c>"\ud800"</c>, which Python's <c>json.dumps</c> writes for
/// one) and a key given twice in an object. The reader accepts all three, and they surface later — an
/// <see cref="InvalidOperationException"/> where a string is read, an <see cref="ArgumentException"/> where an object
/// is walked — far from the line at fault. Here they become one message naming the field.
/// </summary>
public static class JsonCheck
{
    /// <summary>How much of a bad value a message quotes.</summary>
    private const int ExcerptChars = 60;

    private struct Frame
    {
        public bool IsObject;
        public string? Key;
        public int Index;
        public HashSet<string>? Keys;
    }

    /// <summary>
    /// The first problem of a syntactically valid document, as <c>path: what</c> (<c>params.lr: …</c>), or null. A
    /// syntax error, or nesting deeper than <paramref name="maxDepth"/>, throws the reader's <see cref="JsonException"/>.
    /// </summary>
    public static string? FindProblem(ReadOnlySpan<byte> utf8, int maxDepth)
    {
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = maxDepth });
        var frames = new List<Frame>();
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName:
                {
                    var container = PathOf(frames, frames.Count - 1);
                    if (Problem(ref reader) is { } bad) return Prefix(container) + $"key {Quote(reader.ValueSpan)} {bad}";
                    var key = reader.GetString()!;
                    var frame = frames[^1];
                    frame.Keys ??= new HashSet<string>(StringComparer.Ordinal);
                    if (!frame.Keys.Add(key)) return Prefix(container) + $"duplicate key \"{Excerpt(key)}\"";
                    frame.Key = key;
                    frames[^1] = frame;
                    break;
                }
                case JsonTokenType.StartObject or JsonTokenType.StartArray:
                    NextValue(frames);
                    frames.Add(new Frame { IsObject = reader.TokenType == JsonTokenType.StartObject, Index = -1 });
                    break;
                case JsonTokenType.EndObject or JsonTokenType.EndArray:
                    frames.RemoveAt(frames.Count - 1);
                    break;
                case JsonTokenType.String:
                    NextValue(frames);
                    if (Problem(ref reader) is { } problem) return Prefix(PathOf(frames, frames.Count)) + $"{Quote(reader.ValueSpan)} {problem}";
                    break;
                default:
                    NextValue(frames);
                    break;
            }
        }
        return null;
    }

    /// <summary>
    /// The top-level string fields of a well-formed JSON object that are text and given once; empty when the document is
    /// not one. What a rejected command line still tells: its <c>cid</c>, <c>module</c>, <c>op</c> and <c>id</c>.
    /// </summary>
    public static Dictionary<string, string> ReadableFields(ReadOnlySpan<byte> utf8, int maxDepth)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var twice = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = maxDepth });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return [];
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var key = Problem(ref reader) is null ? reader.GetString()! : null;
                reader.Read();
                if (key is not null)
                {
                    if (!seen.Add(key)) twice.Add(key);
                    else if (reader.TokenType == JsonTokenType.String && Problem(ref reader) is null) fields[key] = reader.GetString()!;
                }
                reader.Skip();
            }
            while (reader.Read()) { }
        }
        catch (JsonException)
        {
            return [];
        }
        foreach (var key in twice) fields.Remove(key);
        return fields;
    }

    /// <summary>Whether a .NET string is Unicode text: no surrogate without its partner.</summary>
    public static bool IsText(ReadOnlySpan<char> s) => LoneSurrogateAt(s) < 0;

    /// <summary>The index of the first surrogate without its partner, or -1.</summary>
    public static int LoneSurrogateAt(ReadOnlySpan<char> s)
    {
        var i = s.IndexOfAnyInRange('\uD800', '\uDFFF');
        while (i >= 0 && i < s.Length)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) i += 2;
            else if (char.IsSurrogate(s[i])) return i;
            else i++;
        }
        return -1;
    }

    /// <summary>
    /// A value for a message: at most <paramref name="max"/> characters, never splitting a surrogate pair, and text
    /// (a lone surrogate shows as U+FFFD), so a message quoting it can be written anywhere.
    /// </summary>
    public static string Excerpt(string text, int max = ExcerptChars)
    {
        if (text.Length > max)
        {
            var cut = char.IsHighSurrogate(text[max - 1]) ? max - 1 : max;
            text = string.Concat(text.AsSpan(0, cut), $"… ({text.Length} characters)");
        }
        if (LoneSurrogateAt(text) < 0) return text;
        var chars = text.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1])) i++;
            else if (char.IsSurrogate(chars[i])) chars[i] = '\uFFFD';
        }
        return new string(chars);
    }

    /// <summary>Why the current string token is not text, or null when it is.</summary>
    private static string? Problem(ref Utf8JsonReader reader)
    {
        var raw = reader.ValueSpan;
        if (!Utf8.IsValid(raw)) return "is not valid UTF-8";
        if (!reader.ValueIsEscaped) return null;
        return LoneSurrogateEscape(raw) is { } escape
            ? $"is not text: {escape} is a lone surrogate (a character beyond U+FFFF is escaped as a pair, \\ud83d\\ude00)"
            : null;
    }

    /// <summary>The first <c>\uXXXX</c> escape of a surrogate without its partner, as written, or null.</summary>
    private static string? LoneSurrogateEscape(ReadOnlySpan<byte> raw)
    {
        for (var i = 0; i < raw.Length - 1; i++)
        {
            if (raw[i] != (byte)'\\') continue;
            if (raw[i + 1] != (byte)'u')
            {
                i++;
                continue;
            }
            var unit = Hex(raw.Slice(i + 2, 4));
            if (unit is >= 0xD800 and <= 0xDBFF)
            {
                var next = i + 6;
                if (next + 6 <= raw.Length && raw[next] == (byte)'\\' && raw[next + 1] == (byte)'u' && Hex(raw.Slice(next + 2, 4)) is >= 0xDC00 and <= 0xDFFF)
                {
                    i = next + 5;
                    continue;
                }
                return Encoding.ASCII.GetString(raw.Slice(i, 6));
            }
            if (unit is >= 0xDC00 and <= 0xDFFF) return Encoding.ASCII.GetString(raw.Slice(i, 6));
            i += 5;
        }
        return null;
    }

    private static int Hex(ReadOnlySpan<byte> four)
    {
        var value = 0;
        foreach (var b in four) value = value * 16 + HexDigit(b);
        return value;
    }

    private static int HexDigit(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => 0,
    };

    /// <summary>
    /// A string token as written, in quotes, for a message: escapes stay as written and bytes that are not UTF-8 show as
    /// <c>\xFF</c>, so the message is text whatever the line held.
    /// </summary>
    private static string Quote(ReadOnlySpan<byte> raw)
    {
        var sb = new StringBuilder("\"");
        var chars = 0;
        while (raw.Length > 0 && chars < ExcerptChars)
        {
            var status = Rune.DecodeFromUtf8(raw, out var rune, out var used);
            if (status == OperationStatus.Done) sb.Append(rune.ToString());
            else
            {
                foreach (var b in raw[..used]) sb.Append(CultureInfo.InvariantCulture, $"\\x{b:X2}");
            }
            raw = raw[used..];
            chars++;
        }
        if (raw.Length > 0) sb.Append(CultureInfo.InvariantCulture, $"… ({raw.Length} more bytes)");
        return sb.Append('"').ToString();
    }

    private static void NextValue(List<Frame> frames)
    {
        if (frames.Count == 0 || frames[^1].IsObject) return;
        var frame = frames[^1];
        frame.Index++;
        frames[^1] = frame;
    }

    /// <summary>The path of the value the first <paramref name="count"/> frames lead to: <c>params.groups.head</c>, <c>params.betas[1]</c>.</summary>
    private static string PathOf(List<Frame> frames, int count)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < count; i++)
        {
            var f = frames[i];
            if (f.IsObject)
            {
                if (sb.Length > 0) sb.Append('.');
                sb.Append(f.Key);
            }
            else sb.Append(CultureInfo.InvariantCulture, $"[{f.Index}]");
        }
        return sb.ToString();
    }

    private static string Prefix(string path) => path.Length == 0 ? "" : path + ": ";
}
