using System.Text.Json;
using System.Text.Json.Nodes;

namespace Kiln.Server.Hosting;

/// <summary>
/// A request body that must be a JSON value, bound from the body whatever its content type says (scripts often send
/// none). A body that is empty, <c>null</c> or not JSON is refused with a 400 saying which (see <see cref="ApiErrors"/>);
/// one over the size limit with a 413.
/// </summary>
internal sealed record JsonBody(JsonNode Node)
{
    public static async ValueTask<JsonBody> BindAsync(HttpContext context)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
        if (buffer.Length == 0) throw Refused("the request body is empty; send a JSON object");
        buffer.Position = 0;
        try
        {
            return new JsonBody(await JsonNode.ParseAsync(buffer, cancellationToken: context.RequestAborted)
                ?? throw Refused("the request body is null; send a JSON object"));
        }
        catch (JsonException ex)
        {
            throw Refused("the request body is not valid JSON: " + ex.Message.Split(" Path:")[0]);
        }
    }

    private static BadHttpRequestException Refused(string message) => new(message, StatusCodes.Status400BadRequest);
}
