using System.Globalization;
using System.Text.Json.Nodes;
using Kiln.Server.Runs;
using Microsoft.AspNetCore.Http;

namespace Kiln.Server.Hosting;

/// <summary>Small helpers the endpoint groups share.</summary>
internal static class Http
{
    public static IResult Error(int status, string message) => Results.Json(new JsonObject { ["error"] = message }, statusCode: status);

    /// <summary>The directory of the <c>run</c> query parameter, or an error result naming it.</summary>
    public static bool TryRun(HttpContext context, RunIndex runs, out string id, out string dir, out IResult? error)
    {
        id = context.Request.Query["run"].FirstOrDefault() ?? "";
        error = null;
        if (runs.TryResolve(id, out dir)) return true;
        error = Error(StatusCodes.Status404NotFound, id.Length == 0 ? "give ?run=<run id>" : $"no run '{id}' is served here");
        return false;
    }

    public static long? Long(HttpContext context, string name) =>
        long.TryParse(context.Request.Query[name].FirstOrDefault(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null;

    public static int Int(HttpContext context, string name, int fallback, int min, int max) =>
        int.TryParse(context.Request.Query[name].FirstOrDefault(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? Math.Clamp(v, min, max) : fallback;
}
