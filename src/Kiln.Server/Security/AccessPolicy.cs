using System.Net;
using System.Security.Cryptography;
using System.Text;
using Kiln.Server.Hosting;

namespace Kiln.Server.Security;

/// <summary>
/// Who may use the server. Bound to loopback (the default), any local page may read but only requests carrying the
/// token may change anything, and the Host header must name this machine (so a rebound DNS name cannot borrow the
/// browser's access). Bound to any other address, every request needs the token. The token arrives as the
/// <c>X-Kiln-Token</c> header, a <c>token</c> query parameter (which also sets a same-site cookie, for EventSource) or
/// that cookie. <see cref="Guard"/> runs before every endpoint: this is the one place access is decided.
/// </summary>
public sealed class AccessPolicy
{
    public const string Header = "X-Kiln-Token";
    public const string Cookie = "kiln_token";

    public AccessPolicy(string host, string? token)
    {
        Token = string.IsNullOrEmpty(token) ? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)) : token;
        Loopback = IsLoopback(host);
    }

    public string Token { get; }
    public bool Loopback { get; }

    public static bool IsLoopback(string host) =>
        host is "localhost" || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));

    /// <summary>The middleware in front of every endpoint: refuses what <see cref="Check"/> refuses, and marks every answer.</summary>
    public async Task Guard(HttpContext context, RequestDelegate next)
    {
        if (Check(context) is { } denied)
        {
            await Http.Error(denied.Status, denied.Error).ExecuteAsync(context);
            return;
        }
        context.Response.Headers["X-Content-Type-Options"] = "nosniff";
        context.Response.Headers["Referrer-Policy"] = "no-referrer";
        await next(context);
    }

    /// <summary>Null when the request may go on; otherwise the status and the reason.</summary>
    public (int Status, string Error)? Check(HttpContext context)
    {
        var request = context.Request;
        if (Loopback && !IsLoopback(request.Host.Host))
            return (StatusCodes.Status403Forbidden, $"host '{request.Host.Host}' is not this machine; the dashboard answers localhost only");
        var hasToken = Presented(context) is { } given && Same(given, Token);
        if (!hasToken && (!Loopback || !(HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method))))
            return (StatusCodes.Status401Unauthorized, Loopback
                ? "changes need the dashboard's token (X-Kiln-Token header or ?token=)"
                : "this dashboard needs its token (printed when it started): add ?token=…");
        if (hasToken && request.Query.ContainsKey("token"))
        {
            context.Response.Cookies.Append(Cookie, Token, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, IsEssential = true });
        }
        return null;
    }

    private static string? Presented(HttpContext context) =>
        context.Request.Headers[Header].FirstOrDefault()
        ?? context.Request.Query["token"].FirstOrDefault()
        ?? context.Request.Cookies[Cookie];

    private static bool Same(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(a), Encoding.UTF8.GetBytes(b));
}
