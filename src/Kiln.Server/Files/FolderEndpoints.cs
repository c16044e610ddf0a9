using Kiln.Server.Hosting;
using Kiln.Server.Security;
using Microsoft.AspNetCore.StaticFiles;

namespace Kiln.Server.Files;

/// <summary>
/// Serves one folder's files as they are (the experiment reports: <c>reports/index.html</c> and each run's report),
/// read-only. A path is answered only when, every symbolic link on the way resolved, it is in the folder
/// (<see cref="Confinement"/>): <c>..</c>, an absolute path, or a link that leads out (a report folder turned into a link
/// to <c>/etc</c>) is refused, not followed. A folder is answered with its <c>index.html</c>.
/// </summary>
internal static class FolderEndpoints
{
    private static readonly FileExtensionContentTypeProvider Types = new();

    public static void Map(IEndpointRouteBuilder app, Confinement confinement)
    {
        app.MapGet("/", () => Serve(confinement, ""));
        app.MapGet("/{**path}", (string path) => Serve(confinement, path));
    }

    private static IResult Serve(Confinement confinement, string path)
    {
        var full = Path.GetFullPath(Path.Join(confinement.Root, path));
        if (!confinement.Holds(full)) return Http.Error(StatusCodes.Status403Forbidden, $"'{path}' is outside the served folder");
        if (Directory.Exists(full))
        {
            // Relative links in a folder's index.html resolve against its address, which must end with a slash.
            if (path.Length > 0 && !path.EndsWith('/')) return TypedResults.Redirect("/" + path + "/");
            full = Path.Join(full, "index.html");
            if (!confinement.Holds(full)) return Http.Error(StatusCodes.Status403Forbidden, $"'{path}index.html' is outside the served folder");
        }
        if (!File.Exists(full)) return Http.Error(StatusCodes.Status404NotFound, $"no '{path}' here");
        var type = Types.TryGetContentType(full, out var known) ? known : "application/octet-stream";
        if (type.StartsWith("text/", StringComparison.Ordinal) && !type.Contains("charset", StringComparison.Ordinal)) type += "; charset=utf-8";
        return TypedResults.PhysicalFile(full, type, enableRangeProcessing: true);
    }
}
