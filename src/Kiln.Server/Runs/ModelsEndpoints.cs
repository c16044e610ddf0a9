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
/// </summary>
internal static class ModelsEndpoints
{
    public static void Map(IEndpointRouteBuilder app, RunIndex runs)
    {
        app.MapGet("/api/models", Results<Ok<JsonObject>, JsonHttpResult<ApiError>> (string? architecture, string? trialled) =>
        {
            var workspace = WorkspacePaths.Find(runs.Root);
            if (workspace is null || !File.Exists(workspace.Registry))
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
                            // The run's id on the dashboard (its path under the served folder), when it is served.
                            ["run"] = RunPath(runs.Root, dir),
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

    private static string? RunPath(string root, string dir)
    {
        var rel = Path.GetRelativePath(root, dir);
        return rel.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(rel) ? null : rel.Replace(Path.DirectorySeparatorChar, '/');
    }
}
