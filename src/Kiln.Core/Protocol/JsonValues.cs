using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Kiln.Protocol;

/// <summary>Typed reads from JSON nodes whose errors name the key and the offending value.</summary>
public static class JsonValues
{
    /// <summary>How deep documents nest at most (objects and arrays), in every file and command Kiln reads.</summary>
    public const int MaxDepth = 64;

    /// <summary>
    /// Renders a value the way error messages quote it; numbers as people write them (<c>3e-05</c>). A long value is cut
    /// to an excerpt, so a message never grows with what it quotes.
    /// </summary>
    public static string Show(JsonNode? node) =>
        node is null ? "null" : TryGetDouble(node, out var d) ? FormatNumber(d) : JsonCheck.Excerpt(node.ToJsonString(), 200);

    /// <summary>
    /// A value as its writer wrote it: a number keeps the text it was read from (<c>12345678901234567890</c>, not the
    /// nearest double), with a lower-case exponent.
    /// </summary>
    public static string ShowAsWritten(JsonNode? node) =>
        IsNumber(node) ? JsonCheck.Excerpt(node!.ToJsonString().ToLowerInvariant(), 200) : Show(node);

    /// <summary>Shortest round-trip text with a lower-case exponent: <c>3e-05</c>, <c>0.001</c>, <c>42</c>.</summary>
    public static string FormatNumber(double d) => d.ToString("R", CultureInfo.InvariantCulture).Replace("E", "e", StringComparison.Ordinal);

    public static bool IsNumber(JsonNode? node) => node is JsonValue v && v.GetValueKind() == JsonValueKind.Number;

    public static bool TryGetDouble(JsonNode? node, out double value)
    {
        value = 0;
        if (node is not JsonValue v || v.GetValueKind() != JsonValueKind.Number) return false;
        if (v.TryGetValue(out double d)) { value = d; return true; }
        if (v.TryGetValue(out long l)) { value = l; return true; }
        if (v.TryGetValue(out int i)) { value = i; return true; }
        if (v.TryGetValue(out float f)) { value = f; return true; }
        if (v.TryGetValue(out decimal m)) { value = (double)m; return true; }
        return double.TryParse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }

    public static bool TryGetLong(JsonNode? node, out long value)
    {
        value = 0;
        if (!TryGetDouble(node, out var d) || d != Math.Floor(d) || Math.Abs(d) > 9.007199254740992E15) return false;
        value = (long)d;
        return true;
    }

    public static double GetDouble(JsonNode? node, string key)
    {
        if (!TryGetDouble(node, out var d)) throw new ProtocolException($"{key}: expected a number, got {Show(node)}");
        if (!double.IsFinite(d)) throw new ProtocolException($"{key}: expected a finite number, got {ShowAsWritten(node)}");
        return d;
    }

    public static long GetLong(JsonNode? node, string key)
    {
        if (!TryGetLong(node, out var l)) throw new ProtocolException($"{key}: expected an integer, got {ShowAsWritten(node)}");
        return l;
    }

    /// <summary>An integer in <c>[min, max]</c>; out of range, the message gives the value as written and the range.</summary>
    public static int GetInt(JsonNode? node, string key, int min = int.MinValue, int max = int.MaxValue)
    {
        if (!TryGetDouble(node, out var d) || d != Math.Floor(d))
            throw new ProtocolException($"{key}: expected an integer, got {ShowAsWritten(node)}");
        if (d < min || d > max)
            throw new ProtocolException($"{key}: must be an integer from {min} to {max}, got {ShowAsWritten(node)}");
        return (int)d;
    }

    public static bool GetBool(JsonNode? node, string key)
    {
        if (node is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False) return v.GetValue<bool>();
        throw new ProtocolException($"{key}: expected true or false, got {Show(node)}");
    }

    public static string GetString(JsonNode? node, string key)
    {
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.String) return v.GetValue<string>();
        throw new ProtocolException($"{key}: expected a string, got {Show(node)}");
    }

    public static string? GetOptionalString(JsonObject obj, string key, string prefix = "")
    {
        if (!obj.TryGetPropertyValue(key, out var node) || node is null) return null;
        return GetString(node, prefix + key);
    }

    public static JsonObject GetObject(JsonNode? node, string key)
    {
        if (node is JsonObject o) return o;
        throw new ProtocolException($"{key}: expected an object, got {Show(node)}");
    }

    /// <summary>Throws when the object holds a key outside <paramref name="known"/>, naming it and the keys allowed.</summary>
    public static void RejectUnknownKeys(JsonObject obj, IReadOnlyCollection<string> known, string where)
    {
        foreach (var (key, _) in obj)
        {
            if (!known.Contains(key))
                throw new ProtocolException($"{where}unknown key '{key}' (known: {string.Join(", ", known)})");
        }
    }

    /// <summary>A deep copy, so a node can be stored in a second tree.</summary>
    public static JsonNode? Clone(JsonNode? node) => node?.DeepClone();

    public static JsonObject? CloneObject(JsonObject? obj) => (JsonObject?)obj?.DeepClone();

    /// <summary>
    /// Parses one JSON document, turning the reader's exception into a one-line error. Beyond the syntax, every string and
    /// key must be text (UTF-8, no lone surrogate escape) and no object may give a key twice (<see cref="JsonCheck"/>).
    /// </summary>
    public static JsonNode ParseDocument(ReadOnlySpan<byte> utf8, string what) =>
        TryParseDocument(utf8, out var node, out var error) ? node : throw new ProtocolException($"{what}: {error}");

    /// <summary>As <see cref="ParseDocument"/>, without throwing: the error says what is wrong and where.</summary>
    public static bool TryParseDocument(ReadOnlySpan<byte> utf8, [NotNullWhen(true)] out JsonNode? node, [NotNullWhen(false)] out string? error)
    {
        node = null;
        try
        {
            error = JsonCheck.FindProblem(utf8, MaxDepth);
            if (error is not null) return false;
            node = JsonNode.Parse(utf8, documentOptions: new JsonDocumentOptions { MaxDepth = MaxDepth });
            error = node is null ? "expected a JSON object, got null" : null;
            return node is not null;
        }
        catch (JsonException ex)
        {
            error = $"invalid JSON: {FirstSentence(ex.Message)}";
            return false;
        }
    }

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return (cut > 0 ? message[..cut] : message).Trim();
    }
}
