using System.Text.Json;
using System.Text.Json.Nodes;
using Kiln.Control;
using Kiln.Protocol;
using Kiln.Server.Hosting;
using Kiln.Server.Runs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Control;

/// <summary>
/// Changing a run from the dashboard: commands go to the run's inbox exactly as the command line writes them
/// (source <c>dashboard</c>), and the freeze state is written as <c>kiln freeze</c> writes it. The kernel decides.
/// </summary>
internal static class ControlEndpoints
{
    public static void Map(IEndpointRouteBuilder app, RunIndex runs)
    {
        var group = app.MapGroup("/api/run");

        // POST /api/run/commands?run=<id> with {module, op, id, params, target, init, enabled}
        group.MapPost("/commands", async (HttpContext context) =>
        {
            if (!Http.TryRun(context, runs, out _, out var dir, out var error)) return error!;
            var body = await Body(context);
            if (body.Error is not null) return body.Error;
            try
            {
                if (body.Node is JsonObject o && (o.ContainsKey("cid") || o.ContainsKey("ts") || o.ContainsKey("source")))
                    throw new ProtocolException("cid, ts and source are set by the server");
                var command = Command.FromJson(body.Node!);
                if (command.Op == "set_params" && command.Module is "opt" or "loss") SetRouter.CheckKeys(command.Module, command.Params ?? []);
                var sent = new RunControl(dir, Sources.Dashboard).Send(command);
                return Results.Json(new JsonObject { ["cid"] = sent.Cid, ["command"] = sent.ToJson() }, statusCode: StatusCodes.Status202Accepted);
            }
            catch (ProtocolException ex)
            {
                return Http.Error(StatusCodes.Status400BadRequest, ex.Message);
            }
        });

        // POST /api/run/freeze?run=<id> with {mode, recipe_path, adjust_path, policy, step_offset}
        group.MapPost("/freeze", async (HttpContext context) =>
        {
            if (!Http.TryRun(context, runs, out _, out var dir, out var error)) return error!;
            var body = await Body(context);
            if (body.Error is not null) return body.Error;
            try
            {
                var state = new RunControl(dir, Sources.Dashboard).SetFreeze(FreezeState.FromJson(body.Node));
                return Results.Json(state.ToJson());
            }
            catch (ProtocolException ex)
            {
                return Http.Error(StatusCodes.Status400BadRequest, ex.Message);
            }
        });
    }

    private static async Task<(JsonNode? Node, IResult? Error)> Body(HttpContext context)
    {
        try
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
            if (buffer.Length == 0) return (null, Http.Error(StatusCodes.Status400BadRequest, "the request body is empty; send a JSON object"));
            buffer.Position = 0;
            var node = await JsonNode.ParseAsync(buffer);
            return node is null ? (null, Http.Error(StatusCodes.Status400BadRequest, "the request body is null; send a JSON object")) : (node, null);
        }
        catch (JsonException ex)
        {
            return (null, Http.Error(StatusCodes.Status400BadRequest, "the request body is not valid JSON: " + ex.Message.Split(" Path:")[0]));
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex)
        {
            return (null, Http.Error(ex.StatusCode, ex.Message));
        }
    }
}
