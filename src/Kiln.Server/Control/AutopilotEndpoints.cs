using System.Text.Json.Nodes;
using Kiln.Autopilot.Ai;
using Kiln.Autopilot.Engine;
using Kiln.IO;
using Kiln.Protocol;
using Kiln.Server.Hosting;
using Kiln.Server.Runs;

namespace Kiln.Server.Control;

/// <summary>
/// The autopilot panel: what the autopilot following a run is set to (<c>kiln.autopilot.json</c>), its proposals with
/// their rationale (<c>kiln.autopilot.jsonl</c>), the AI autopilot's last calls and what they cost, and a person's answer to a waiting suggestion — accepted, its action
/// goes to the inbox as the autopilot's (<see cref="AutopilotSession.Accept"/>); rejected, nothing is sent.
/// </summary>
internal static class AutopilotEndpoints
{
    /// <summary>The AI autopilot's calls the panel shows, newest last.</summary>
    private const int ShownCalls = 10;

    public static void Map(IEndpointRouteBuilder app, RunIndex runs)
    {
        var group = app.MapGroup("/api/run/autopilot");

        // GET /api/run/autopilot?run=<id>
        group.MapGet("", Results<Ok<JsonObject>, JsonHttpResult<ApiError>> (string? run) =>
        {
            if (!runs.TryRun(run, out var dir, out var refused)) return refused;
            JsonArray proposals;
            JsonObject ai;
            try
            {
                proposals = new JsonArray([.. new AutopilotLog(dir).Read().Select(p => (JsonNode)p.ToJson())]);
                var (calls, spent, total) = AiCalls.Tail(dir, ShownCalls);
                ai = new JsonObject { ["spent_usd"] = spent, ["calls"] = total, ["last"] = new JsonArray([.. calls.Select(c => (JsonNode)c)]) };
            }
            catch (ProtocolException ex)
            {
                return TypedResults.Json(new ApiError(ex.Message), statusCode: StatusCodes.Status503ServiceUnavailable);
            }
            return TypedResults.Ok(new JsonObject
            {
                ["state"] = RunsEndpoints.ReadJson(Path.Combine(dir, RunFiles.AutopilotState)),
                ["proposals"] = proposals,
                ["ai"] = ai,
            });
        });

        // POST /api/run/autopilot/accept?run=<id> with {id}; /reject likewise
        foreach (var accept in new[] { true, false })
        {
            group.MapPost(accept ? "/accept" : "/reject", Results<Ok<JsonObject>, JsonHttpResult<ApiError>, BadRequest<ApiError>> (string? run, JsonBody body) =>
            {
                if (!runs.TryRun(run, out var dir, out var refused)) return refused;
                try
                {
                    var id = JsonValues.GetString(JsonValues.GetObject(body.Node, "body")["id"], "id");
                    var decided = accept
                        ? AutopilotSession.Accept(dir, id, Sources.Dashboard)
                        : AutopilotSession.Reject(dir, id, Sources.Dashboard);
                    return TypedResults.Ok(decided.ToJson());
                }
                catch (ProtocolException ex)
                {
                    return TypedResults.BadRequest(new ApiError(ex.Message));
                }
            });
        }
    }
}
