using System.Reflection;
using System.Text.Json.Nodes;

namespace Kiln.Modules;

/// <summary>A module's answer to one command: the ledger line's decision and its details.</summary>
public readonly record struct OpResult(string Decision, JsonObject? Payload = null, string? Error = null, string? Notes = null, string? Traceback = null)
{
    public static OpResult Applied(JsonObject? payload = null, string? notes = null) => new(Protocol.Decision.Applied, payload, null, notes);

    public static OpResult Rejected(string error) => new(Protocol.Decision.Rejected, Error: error);

    public static OpResult Noop(string notes) => new(Protocol.Decision.SkippedNoop, Notes: notes);

    public static OpResult Failed(Exception ex, JsonObject? payload = null, string? notes = null)
    {
        var inner = Unwrap(ex);
        return new(Protocol.Decision.Failed, payload, Describe(inner), notes, inner.ToString());
    }

    /// <summary>Reflection wraps constructor and method exceptions; report the user's exception, not the wrapper.</summary>
    public static Exception Unwrap(Exception ex) => ex is TargetInvocationException { InnerException: { } inner } ? Unwrap(inner) : ex;

    /// <summary>The exception for a ledger line; a <see cref="Protocol.ProtocolException"/> is already a one-line message naming the fault.</summary>
    public static string Describe(Exception ex)
    {
        var e = Unwrap(ex);
        return e is Protocol.ProtocolException ? e.Message : $"{e.GetType().Name}: {e.Message}";
    }
}
