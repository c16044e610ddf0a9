using System.Text.Json.Nodes;
using Kiln.Registry;
using Kiln.Registry.Models;
using Kiln.Registry.Store;
using Kiln.Registry.Workspace;
using Kiln.Server.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Kiln.Server.Runs;

/// <summary>
/// <c>/api/models</c>: the workspace's trained models from its registry, grouped by architecture (newest first), each
/// with its hyper-parameters, trial result, code snapshot and the run it links to — what <c>kiln models --json</c> says.
/// Served only when the served folder is the workspace's root.
/// </summary>
internal static class ModelsEndpoints
{
    public static void Map(IEndpointRouteBuilder app, RunIndex runs)
    {
        app.MapGet("/api/models", Results<Ok<JsonObject>, JsonHttpResult<ApiError>> (string? architecture, string? trialled) =>
        {
            if (RegistryRuns.Served(runs.Root, runs.Confinement) is not { } workspace)
                return TypedResults.Ok(new JsonObject { ["workspace"] = null, ["groups"] = new JsonArray() });
            try
            {
                using var db = RegistryDb.Open(workspace);
                var query = new ModelQuery { Architecture = architecture, Trialled = trialled switch { "true" => true, "false" => false, _ => null } };
                var groups = new JsonArray();
                foreach (var g in ModelGroup.From(db.Query(query)))
                {
                    var models = new JsonArray();
                    foreach (var m in g.Models)
                    {
                        var dir = Path.GetFullPath(Path.Combine(workspace.Root, m.Dir));
                        models.Add(new JsonObject
                        {
                            ["id"] = m.Id, ["kind"] = m.Kind, ["status"] = m.Status, ["start"] = m.Start,
                            ["run"] = RunPath(runs, dir),
                            ["params"] = m.Params?.DeepClone(), ["trial_result"] = m.TrialResult?.DeepClone(),
                            ["snapshot_ref"] = m.SnapshotRef, ["git_commit"] = m.GitCommit, ["dirty"] = m.Dirty,
                        });
                    }
                    groups.Add(new JsonObject { ["fingerprint"] = g.Fingerprint, ["summary"] = g.Summary, ["newest"] = g.Newest, ["models"] = models });
                }
                return TypedResults.Ok(new JsonObject { ["workspace"] = workspace.Root, ["groups"] = groups });
            }
            catch (RegistryException ex)
            {
                return TypedResults.Json(new ApiError(ex.Message), statusCode: StatusCodes.Status503ServiceUnavailable);
            }
        });
    }

    /// <summary>The run's id on the dashboard, when its folder is one the server serves; else null (no link).</summary>
    private static string? RunPath(RunIndex runs, string dir)
    {
        var id = Path.GetRelativePath(runs.Root, dir).Replace(Path.DirectorySeparatorChar, '/');
        return runs.TryResolve(id, out _) ? id : null;
    }
}
