using System.Reflection;
using System.Text;
using Kiln.Server.Security;

namespace Kiln.Server.Ui;

/// <summary>
/// Serves the dashboard's files, embedded in this assembly (no loose files, nothing from a CDN). The page never carries
/// the token (the cookie set by the printed address does, out of the page's reach); it carries only whether this
/// browser may make changes (<c>&lt;meta name="kiln-access" content="write|read"&gt;</c>), so its controls can say how
/// to get that right before a change is refused.
/// </summary>
internal static class UiEndpoints
{
    private static readonly Assembly Self = typeof(UiEndpoints).Assembly;
    private static readonly Dictionary<string, string> Types = new(StringComparer.OrdinalIgnoreCase)
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".svg"] = "image/svg+xml",
    };

    public static void Map(IEndpointRouteBuilder app, AccessPolicy access)
    {
        app.MapGet("/", (HttpContext context) => Page(access.MayChange(context)));
        app.MapGet("/{**path}", Results<ContentHttpResult, FileContentHttpResult, NotFound> (string path, HttpContext context) =>
        {
            if (path.StartsWith("api/", StringComparison.Ordinal)) return TypedResults.NotFound();
            if (path is "index.html") return Page(access.MayChange(context));
            if (Read(path) is not { } bytes) return TypedResults.NotFound();
            return TypedResults.Bytes(bytes, Types.GetValueOrDefault(Path.GetExtension(path), "application/octet-stream"));
        });
    }

    private static ContentHttpResult Page(bool mayChange)
    {
        var html = Read("index.html") is { } bytes
            ? Encoding.UTF8.GetString(bytes).Replace("{{KILN_ACCESS}}", mayChange ? "write" : "read", StringComparison.Ordinal)
            : "<!doctype html><title>Kiln</title><p>The dashboard's page is missing from this build.</p>";
        return TypedResults.Content(html, "text/html; charset=utf-8");
    }

    /// <summary>An embedded UI file by its path under wwwroot/; names are fixed at build time, so nothing else can be read.</summary>
    internal static byte[]? Read(string path)
    {
        using var stream = Self.GetManifestResourceStream("wwwroot/" + path);
        if (stream is null) return null;
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
