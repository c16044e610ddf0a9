using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Kiln.Server.Hosting;

namespace Kiln.Server.Security;

/// <summary>
/// Who may use the server; <see cref="Guard"/> runs before every endpoint, and this is the one place access is decided.
/// The token is the right to run code as the trainer's user (a change can load a callback), so it reaches only the
/// person who started the server: the URL it prints carries it (<c>/?token=…</c>), and opening that URL trades it for an
/// HttpOnly, SameSite=Strict cookie and redirects to the same address without it. The page never holds the token.
/// <list type="bullet">
/// <item>Bound to loopback (the default), anyone on this machine may read, and the Host header must name this machine
/// (so a rebound DNS name cannot borrow the browser's access). Bound to any other address, every request needs the
/// token.</item>
/// <item>Every change (any method but GET and HEAD) needs the token as a header (<c>X-Kiln-Token</c> or
/// <c>Authorization: Bearer</c>, for scripts) or the cookie. An <c>Origin</c>, when sent, must be the server's own; without
/// one the cookie alone is not enough, since that is what a forged request carries. The body must be declared
/// <c>application/json</c>, which no cross-site form or simple request can declare.</item>
/// </list>
/// </summary>
public sealed class AccessPolicy
{
    public const string Header = "X-Kiln-Token";
    public const string Query = "token";

    /// <summary>The cookie's name before the port: cookies are shared by every port of a host, and two servers must not
    /// overwrite each other's.</summary>
    public const string CookiePrefix = "kiln_token_";

    public AccessPolicy(string host, string? token)
    {
        Token = string.IsNullOrEmpty(token) ? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)) : token;
        Loopback = IsLoopback(host);
    }

    public string Token { get; }
    public bool Loopback { get; }

    public static bool IsLoopback(string host) =>
        host is "localhost" || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));

    /// <summary>The cookie the printed URL sets on a server listening on <paramref name="port"/>.</summary>
    public static string CookieName(int port) => CookiePrefix + port.ToString(CultureInfo.InvariantCulture);

    /// <summary>The middleware in front of every endpoint: refuses what <see cref="Check"/> refuses, and marks every answer.</summary>
    public async Task Guard(HttpContext context, RequestDelegate next)
    {
        context.Response.Headers["X-Content-Type-Options"] = "nosniff";
        context.Response.Headers["Referrer-Policy"] = "no-referrer";
        if (Check(context) is { } denied)
        {
            await Http.Error(denied.Status, denied.Error).ExecuteAsync(context);
            return;
        }
        if (SignIn(context)) return;
        await next(context);
    }

    /// <summary>Null when the request may go on; otherwise the status and the reason.</summary>
    public (int Status, string Error)? Check(HttpContext context)
    {
        var request = context.Request;
        if (Loopback && !IsLoopback(request.Host.Host))
            return (StatusCodes.Status403Forbidden, $"host '{request.Host.Host}' is not this machine; the dashboard answers localhost only");
        var header = HeaderToken(request);
        if (header is not null && !Same(header, Token))
            return (StatusCodes.Status401Unauthorized, "the token sent in the request's header is not this dashboard's");
        var reading = HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method);
        var query = reading ? request.Query[Query].FirstOrDefault() : null;
        if (query is not null && !Same(query, Token))
            return (StatusCodes.Status401Unauthorized, "the ?token= of this URL is not this dashboard's (did it restart? open the URL it printed)");
        var cookie = HasCookie(context);
        if (reading)
        {
            if (!Loopback && header is null && query is null && !cookie)
                return (StatusCodes.Status401Unauthorized, "this dashboard needs its token: open the URL it printed when it started (it carries ?token=…)");
            return null;
        }
        if (header is null && !cookie)
            return (StatusCodes.Status401Unauthorized,
                "changes need the dashboard's token: open the URL Kiln printed when it started (it carries ?token=…), or send the token as the X-Kiln-Token header");
        var origin = request.Headers.Origin.FirstOrDefault();
        if (origin is null && header is null)
            return (StatusCodes.Status403Forbidden, "a change without an Origin must carry the token as the X-Kiln-Token header (or Authorization: Bearer), not in a cookie alone");
        if (origin is not null && !string.Equals(origin, Own(request), StringComparison.OrdinalIgnoreCase))
            return (StatusCodes.Status403Forbidden, $"a change from {origin} is refused: only the dashboard's own pages ({Own(request)}) may make changes");
        if (!request.HasJsonContentType())
            return (StatusCodes.Status415UnsupportedMediaType, $"a change must be JSON sent as Content-Type: application/json, not {(string.IsNullOrEmpty(request.ContentType) ? "without one" : request.ContentType)}");
        return null;
    }

    /// <summary>Whether the request may make changes: it carries the token in a header or the cookie (the page asks, to
    /// say so before a change is refused).</summary>
    public bool MayChange(HttpContext context) =>
        HeaderToken(context.Request) is { } header ? Same(header, Token) : HasCookie(context);

    /// <summary>
    /// The printed URL opened: sets the cookie and answers with a redirect to the same address without the token,
    /// so it stays neither in the address bar nor in what the page can read. API requests keep a query token as a
    /// credential for that request alone.
    /// </summary>
    private bool SignIn(HttpContext context)
    {
        var request = context.Request;
        if (!request.Query.ContainsKey(Query) || request.Path.StartsWithSegments("/api", StringComparison.Ordinal)) return false;
        if (!(HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method))) return false;
        context.Response.Cookies.Append(CookieName(context.Connection.LocalPort), Token, new CookieOptions
        {
            HttpOnly = true, SameSite = SameSiteMode.Strict, Path = "/", IsEssential = true,
        });
        var rest = request.Query.Where(q => q.Key != Query);
        context.Response.Headers.CacheControl = "no-store";
        context.Response.Redirect(request.PathBase + request.Path + QueryString.Create(rest));
        return true;
    }

    private bool HasCookie(HttpContext context) =>
        context.Request.Cookies[CookieName(context.Connection.LocalPort)] is { } cookie && Same(cookie, Token);

    private static string? HeaderToken(HttpRequest request)
    {
        if (request.Headers[Header].FirstOrDefault() is { } token) return token;
        var authorization = request.Headers.Authorization.FirstOrDefault();
        return authorization is not null && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? authorization[7..].Trim() : null;
    }

    /// <summary>The origin of this server's own pages as the browser reached it.</summary>
    private static string Own(HttpRequest request) => $"{request.Scheme}://{request.Host.Value}";

    private static bool Same(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(a), Encoding.UTF8.GetBytes(b));
}
