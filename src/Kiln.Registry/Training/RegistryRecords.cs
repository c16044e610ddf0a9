using Kiln.Registry.Indexing;
using Kiln.Registry.Records;
using Kiln.Registry.Store;
using Kiln.Registry.Workspace;

namespace Kiln.Registry.Training;

/// <summary>The registry as <c>kiln train</c>, <c>kiln trial</c> and <c>kiln queue run</c> use it: models by architecture, runs indexed from their folders.</summary>
public sealed class RegistryRecords(WorkspacePaths workspace, RegistryDb db) : IRunRecords
{
    private readonly Lock _gate = new();

    public IReadOnlyList<ModelEntry> Models(string fingerprint)
    {
        lock (_gate)
        {
            return db.Query(new ModelQuery { Architecture = fingerprint, Sort = "started", Descending = true })
                .Where(r => r.Fingerprint == fingerprint)
                .Select(r => new ModelEntry(r.Id, Path.GetFullPath(Path.Combine(workspace.Root, r.Dir)), fingerprint, r.Params ?? [], r.TrialResult,
                    r.Weights is not null && File.Exists(Path.Combine(workspace.Root, r.Dir, Kiln.Protocol.RunFiles.Weights)), r.Start))
                .ToList();
        }
    }

    public void Index(string runDir)
    {
        lock (_gate) RunIndexer.Record(workspace, db, runDir);
    }

    public int ShareResult(ModelEntry model, System.Text.Json.Nodes.JsonObject result)
    {
        lock (_gate) return Kiln.Registry.Models.TrialResults.Record(workspace, db, model.Fingerprint, model.Params, result).Count;
    }

    public void Forget(string runId)
    {
        lock (_gate) db.Delete(runId);
    }
}
