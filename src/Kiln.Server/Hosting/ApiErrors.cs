
namespace Kiln.Server.Hosting;

/// <summary>
/// Turns what an endpoint could not do into the API's error shape instead of an empty answer: a bad request (a
/// parameter that is not a number, a body that is not JSON or is too large) gets its status and reason; a run's file
/// that cannot be read (a directory in its place, no permission, a disk error) a 500 that says so.
/// </summary>
internal static class ApiErrors
{
    public static async Task Handle(HttpContext context, RequestDelegate next)
    {
        try
        {
            await next(context);
        }
        catch (BadHttpRequestException ex) when (!context.Response.HasStarted)
        {
            await Http.Error(ex.StatusCode, ex.Message).ExecuteAsync(context);
        }
        catch (Exception ex) when (!context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
        {
            var readable = ex is IOException or UnauthorizedAccessException;
            if (!readable) Console.Error.WriteLine($"kiln serve: {context.Request.Path}: {ex}");
            await Http.Error(StatusCodes.Status500InternalServerError,
                readable ? $"cannot read the run's files: {ex.Message}" : $"the server failed on {context.Request.Path}: {ex.Message}").ExecuteAsync(context);
        }
    }
}
