using System.Text.Json;

namespace Kiln.Protocol;

/// <summary>
/// The scalar fields of a ledger line, read with a forward-only reader that skips <c>params</c> and <c>payload</c>:
/// what kernel recovery and <c>kiln status</c> need, without building a JSON tree per line.
/// </summary>
public readonly record struct LedgerHeader(long Seq, string? Cid, long? Step, string? Module, string? Id, string? Op, string? Decision)
{
    public static bool TryRead(ReadOnlySpan<byte> json, out LedgerHeader header)
    {
        header = default;
        long seq = 0;
        long? step = null;
        string? cid = null, module = null, id = null, op = null, decision = null;
        try
        {
            var reader = new Utf8JsonReader(json);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.ValueSpan;
                reader.Read();
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    reader.Skip();
                    continue;
                }
                if (name.SequenceEqual("seq"u8)) seq = reader.TokenType == JsonTokenType.Number ? reader.GetInt64() : 0;
                else if (name.SequenceEqual("step"u8)) step = reader.TokenType == JsonTokenType.Number ? reader.GetInt64() : null;
                else if (name.SequenceEqual("cid"u8)) cid = Text(ref reader);
                else if (name.SequenceEqual("module"u8)) module = Text(ref reader);
                else if (name.SequenceEqual("id"u8)) id = Text(ref reader);
                else if (name.SequenceEqual("op"u8)) op = Text(ref reader);
                else if (name.SequenceEqual("decision"u8)) decision = Text(ref reader);
            }
        }
        catch (JsonException)
        {
            return false;
        }
        catch (FormatException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
        if (decision is null) return false;
        header = new LedgerHeader(seq, cid, step, module, id, op, decision);
        return true;
    }

    private static string? Text(ref Utf8JsonReader reader) => reader.TokenType == JsonTokenType.String ? reader.GetString() : null;

    /// <summary>The <c>cid</c> of an inbox line, or null; reads only the top level of the object.</summary>
    public static string? ReadCid(ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isCid = reader.ValueTextEquals("cid"u8);
                reader.Read();
                if (isCid) return reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray) reader.Skip();
            }
        }
        catch (JsonException)
        {
        }
        return null;
    }
}
