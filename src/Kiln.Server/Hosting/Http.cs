using System.Diagnostics.CodeAnalysis;
using Kiln.Server.Runs;

namespace Kiln.Server.Hosting;

/// <summary>What the endpoint groups share: the run a request names, and errors in the API's shape.</summary>
internal static class Http
{
    /// <summary>An error with any status (the groups' own are <c>TypedResults.BadRequest(new ApiError(…))</c> and the like).</summary>
    public static JsonHttpResult<ApiError> Error(int status, string message) => TypedResults.Json(new ApiError(message), statusCode: status);

    /// <summary>The directory of the run a request names (<c>?run=&lt;id&gt;</c>), or the 404 that says it is not served here.</summary>
    public static bool TryRun(this RunIndex runs, string? id, out string dir, [NotNullWhen(false)] out NotFound<ApiError>? missing)
    {
        missing = null;
        if (runs.TryResolve(id, out dir)) return true;
        missing = TypedResults.NotFound(new ApiError(string.IsNullOrEmpty(id) ? "give ?run=<run id>" : $"no run '{id}' is served here"));
        return false;
    }
}
