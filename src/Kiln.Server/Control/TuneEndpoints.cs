using System.Text.Json.Nodes;
using Kiln.Modules.Tune;
using Kiln.Protocol;
using Kiln.Server.Hosting;
using Kiln.Server.Runs;

namespace Kiln.Server.Control;

/// <summary>
/// The tune panel: the <c>tune</c> module's mode and settings (<c>kiln.tune.json</c>), its segments as the ledger tells
/// them (mutation, pre and post, verdict) and the accept rate. Turning it on or off is a command like any other
/// (<c>POST /api/run/commands</c> with <c>module: tune</c>).
/// </summary>
internal static class TuneEndpoints
{
    /// <summary>The segments the panel shows, newest last.</summary>
    private const int ShownSegments = 30;

    public static void Map(IEndpointRouteBuilder app, RunIndex runs)
    {
        var histories = new TuneHistoryCache();
        // GET /api/run/tune?run=<id>
        app.MapGet("/api/run/tune", Results<Ok<JsonObject>, JsonHttpResult<ApiError>> (string? run) =>
        {
            if (!runs.TryRun(run, out var dir, out var refused)) return refused;
            JsonObject summary;
            // One request at a time reads a cached history: its parsed state is shared between requests.
            lock (histories)
            {
                TuneHistory history;
                try
                {
                    history = histories.Of(dir);
                }
                catch (ProtocolException ex)
                {
                    return TypedResults.Json(new ApiError(ex.Message), statusCode: StatusCodes.Status503ServiceUnavailable);
                }
                summary = history.ToJson();
                summary["segments"] = new JsonArray([.. history.Segments.TakeLast(ShownSegments).Select(s => (JsonNode)s.ToJson())]);
                summary["mode"] = history.Mode;
                summary["used"] = history.State is not null || history.Segments.Count > 0;
                summary["under_way"] = history.State?["segment"]?.DeepClone();
            }
            return TypedResults.Ok(summary);
        });
    }
}
