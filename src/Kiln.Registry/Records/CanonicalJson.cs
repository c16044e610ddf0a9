using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Registry.Records;

/// <summary>
/// One text per JSON value, so equal hyper-parameters compare equal as strings (numb compared the script's own
/// <c>json.dumps</c>, so <c>{"lr": 0.1, "bs": 32}</c> and <c>{"bs": 32, "lr": 0.1}</c> were two different trainings):
/// object keys sorted (ordinal), no white space, whole numbers written as integers (<c>1.0</c> → <c>1</c>), other
/// numbers in their shortest round-trip form (<c>1e-4</c> → <c>0.0001</c>, <c>3E-05</c> → <c>3e-05</c>), strings
/// escaped only where JSON requires it.
/// </summary>
public static class CanonicalJson
{
    /// <summary>The canonical text of no hyper-parameters.</summary>
    public const string EmptyObject = "{}";

    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = false };

    /// <summary>The canonical text of <paramref name="node"/> (<c>null</c> for a JSON null).</summary>
    public static string Of(JsonNode? node)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, Options)) Write(w, node);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Hyper-parameters as they are stored and compared: absent ones are <c>{}</c>.</summary>
    public static string Params(JsonObject? parameters) => parameters is null ? EmptyObject : Of(parameters);

    /// <summary>The canonical form of JSON text; text that is not JSON is a <see cref="ProtocolException"/>.</summary>
    public static string Normalize(string json) => Of(JsonValues.ParseDocument(Encoding.UTF8.GetBytes(json), "params"));

    /// <summary>
    /// The fields of a JSON object's text, in its order (sorted, for canonical text), each value as a person reads it:
    /// strings without quotes, numbers and literals as written, objects and arrays as JSON. Empty for anything else.
    /// Reads the text once, building no tree: for tables of thousands of rows.
    /// </summary>
    public static List<(string Key, string Value)> Fields(string? json)
    {
        var fields = new List<(string, string)>();
        if (string.IsNullOrEmpty(json)) return fields;
        var bytes = Encoding.UTF8.GetBytes(json);
        var reader = new Utf8JsonReader(bytes);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return fields;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var key = reader.GetString()!;
                reader.Read();
                string value;
                switch (reader.TokenType)
                {
                    case JsonTokenType.String:
                        value = reader.GetString()!;
                        break;
                    case JsonTokenType.StartObject or JsonTokenType.StartArray:
                        var start = (int)reader.TokenStartIndex;
                        reader.Skip();
                        value = Encoding.UTF8.GetString(bytes, start, (int)reader.BytesConsumed - start);
                        break;
                    default:
                        value = Encoding.UTF8.GetString(reader.ValueSpan);
                        break;
                }
                fields.Add((key, value));
            }
        }
        catch (JsonException)
        {
            // Text the registry did not write: what was read so far is shown.
        }
        return fields;
    }

    private static void Write(Utf8JsonWriter w, JsonNode? node)
    {
        switch (node)
        {
            case null:
                w.WriteNullValue();
                break;
            case JsonObject o:
                w.WriteStartObject();
                foreach (var (key, value) in o.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    w.WritePropertyName(key);
                    Write(w, value);
                }
                w.WriteEndObject();
                break;
            case JsonArray a:
                w.WriteStartArray();
                foreach (var item in a) Write(w, item);
                w.WriteEndArray();
                break;
            case JsonValue v:
                switch (v.GetValueKind())
                {
                    case JsonValueKind.Number: WriteNumber(w, v); break;
                    case JsonValueKind.True: w.WriteBooleanValue(true); break;
                    case JsonValueKind.False: w.WriteBooleanValue(false); break;
                    case JsonValueKind.String: w.WriteStringValue(v.GetValue<string>()); break;
                    default: w.WriteNullValue(); break;
                }
                break;
        }
    }

    /// <summary>The largest magnitude below which every whole double is exact (2^53).</summary>
    private const double ExactIntegers = 9007199254740992.0;

    private static void WriteNumber(Utf8JsonWriter w, JsonValue v)
    {
        var text = v.ToJsonString();
        // An integer literal is kept exactly (a 64-bit seed loses digits as a double).
        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var whole))
        {
            w.WriteNumberValue(whole);
            return;
        }
        if (!JsonValues.TryGetDouble(v, out var d) || !double.IsFinite(d))
        {
            w.WriteRawValue(text);
            return;
        }
        if (d == Math.Floor(d) && Math.Abs(d) < ExactIntegers) w.WriteNumberValue((long)d);
        else w.WriteRawValue(JsonValues.FormatNumber(d));
    }
}
