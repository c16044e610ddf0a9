using System.Text.Json.Nodes;
using Kiln.Control;
using Kiln.Protocol;
using Kiln.Server.Hosting;
using Kiln.Server.Runs;

namespace Kiln.Server.Control;

/// <summary>
/// Changing a run from the dashboard: commands go to the run's inbox exactly as the command line writes them
/// (source <c>dashboard</c>), and the freeze state is written as <c>kiln freeze</c> writes it. The kernel decides; the
/// files a change names must lie under the served directory (<see cref="CommandPaths"/>).
/// </summary>
internal static class ControlEndpoints
{
    public static void Map(IEndpointRouteBuilder app, RunIndex runs)
    {
        var group = app.MapGroup("/api/run");

        // POST /api/run/commands?run=<id> with {module, op, id, params, target, init, enabled}
        group.MapPost("/commands", Results<Accepted<CommandAccepted>, JsonHttpResult<ApiError>, BadRequest<ApiError>> (string? run, JsonBody body) =>
        {
            if (!runs.TryRun(run, out var dir, out var refused)) return refused;
            try
            {
                if (body.Node is JsonObject o && (o.ContainsKey("cid") || o.ContainsKey("ts") || o.ContainsKey("source")))
                    throw new ProtocolException("cid, ts and source are set by the server");
                var command = Command.FromJson(body.Node, Modules(dir));
                if (command.Op == "set_params" && command.Module is "opt" or "loss") SetRouter.CheckKeys(command.Module, command.Params ?? []);
                CommandPaths.Check(command, dir, runs.Confinement);
                var sent = new RunControl(dir, Sources.Dashboard).Send(command);
                return TypedResults.Accepted((string?)null, new CommandAccepted(sent.Cid!, sent.ToJson()));
            }
            catch (ProtocolException ex)
            {
                return TypedResults.BadRequest(new ApiError(ex.Message));
            }
        });

        // POST /api/run/freeze?run=<id> with {mode, recipe_path, adjust_path, policy, step_offset}
        group.MapPost("/freeze", Results<Ok<JsonObject>, JsonHttpResult<ApiError>, BadRequest<ApiError>> (string? run, JsonBody body) =>
        {
            if (!runs.TryRun(run, out var dir, out var refused)) return refused;
            try
            {
                var state = FreezeState.FromJson(body.Node);
                CommandPaths.Check(state, dir, runs.Confinement);
                return TypedResults.Ok(new RunControl(dir, Sources.Dashboard).SetFreeze(state).ToJson());
            }
            catch (ProtocolException ex)
            {
                return TypedResults.BadRequest(new ApiError(ex.Message));
            }
        });
    }

    /// <summary>The modules a run answers to: Kiln's own, and any its kernel plugged in (named in its dials).</summary>
    private static IReadOnlyCollection<string> Modules(string dir)
    {
        var modules = new HashSet<string>(Command.Modules, StringComparer.Ordinal);
        if (RunsEndpoints.ReadJson(new RunFiles(dir).ActuatorsPath)?["actuators"] is JsonArray dials)
        {
            foreach (var dial in dials)
            {
                if (dial?["module"] is JsonValue v && v.TryGetValue(out string? name)) modules.Add(name);
            }
        }
        return modules;
    }
}
