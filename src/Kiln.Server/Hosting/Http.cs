using System.Diagnostics.CodeAnalysis;
using Kiln.Server.Runs;

namespace Kiln.Server.Hosting;

/// <summary>What the endpoint groups share: the run a request names, and errors in the API's shape.</summary>
internal static class Http
{
    /// <summary>An error with any status (the groups' own are <c>TypedResults.BadRequest(new ApiError(…))</c> and the like).</summary>
    public static JsonHttpResult<ApiError> Error(int status, string message) => TypedResults.Json(new ApiError(message), statusCode: status);

    /// <summary>
    /// The directory of the run a request names (<c>?run=&lt;id&gt;</c>), or the error to answer: a 404 when it is not
    /// served here, a 403 when it must not be read (<see cref="RunIndex.Refusal"/>).
    /// </summary>
    public static bool TryRun(this RunIndex runs, string? id, out string dir, [NotNullWhen(false)] out JsonHttpResult<ApiError>? refused)
    {
        refused = null;
        if (!runs.TryResolve(id, out dir))
        {
            refused = Error(StatusCodes.Status404NotFound, string.IsNullOrEmpty(id) ? "give ?run=<run id>" : $"no run '{id}' is served here");
            return false;
        }
        if (runs.Refusal(dir) is { } why)
        {
            refused = Error(StatusCodes.Status403Forbidden, $"run '{id}' is not served: {why}");
            return false;
        }
        return true;
    }
}
