using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Unicode;

namespace Kiln.Server.Hosting;

/// <summary>
/// A request body that must be a JSON value (the access check has made sure it is declared <c>application/json</c>).
/// A body that is empty, <c>null</c>, not JSON, not UTF-8 or holding a string that is not text (a lone surrogate
/// escape such as <c>"\ud800"</c>) is refused with a 400 saying which (see <see cref="ApiErrors"/>); one over the size
/// limit with a 413.
/// </summary>
internal sealed record JsonBody(JsonNode Node)
{
    public static async ValueTask<JsonBody> BindAsync(HttpContext context)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
        if (buffer.Length == 0) throw Refused("the request body is empty; send a JSON object");
        var bytes = buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        if (Utf8.ToUtf16(bytes.Span, new char[bytes.Length], out var valid, out _, replaceInvalidSequences: false) == OperationStatus.InvalidData)
            throw Refused($"the request body is not valid UTF-8 (byte {valid} is not); send JSON text encoded as UTF-8");
        try
        {
            CheckStrings(bytes.Span);
            return new JsonBody(JsonNode.Parse(bytes.Span) ?? throw Refused("the request body is null; send a JSON object"));
        }
        catch (JsonException ex)
        {
            throw Refused("the request body is not valid JSON: " + ex.Message.Split(" Path:")[0]);
        }
    }

    /// <summary>
    /// Reads every string and property name once, as the endpoints will: JSON lets <c>\ud800</c> escape half a
    /// character, which no .NET string can hold, and reading it later would fail inside the endpoint.
    /// </summary>
    private static void CheckStrings(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        while (reader.Read())
        {
            if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.PropertyName) || !reader.ValueIsEscaped) continue;
            try
            {
                _ = reader.GetString();
            }
            catch (InvalidOperationException)
            {
                throw Refused($"the request body is not valid text: a string at byte {reader.TokenStartIndex} escapes a lone surrogate (\\ud800–\\udfff without its pair)");
            }
        }
    }

    private static BadHttpRequestException Refused(string message) => new(message, StatusCodes.Status400BadRequest);
}
