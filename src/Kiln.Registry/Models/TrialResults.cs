using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Protocol;
using Kiln.Registry.Records;
using Kiln.Registry.Store;
using Kiln.Registry.Workspace;

namespace Kiln.Registry.Models;

/// <summary>
/// Records a trial's result where it survives a rebuild: as <c>kiln.result.json</c> in the folder of every trained model
/// of the architecture with the same hyper-parameters (models trained alike share their trial, as in numb), then in
/// the registry.
/// </summary>
public static class TrialResults
{
    /// <summary>Returns the models that now carry <paramref name="result"/> (none when nothing was trained so).</summary>
    public static IReadOnlyList<RunRecord> Record(WorkspacePaths workspace, RegistryDb db, string fingerprint, JsonObject? parameters, JsonObject result)
    {
        var models = db.FindTrainings(fingerprint, parameters);
        foreach (var model in models)
            AtomicFile.WriteJson(Path.Combine(workspace.Root, model.Dir, RunFiles.TrialResult), result);
        var at = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        db.SetTrialResult(fingerprint, parameters, result, at);
        return [.. models.Select(m => m with { TrialResult = (JsonObject)result.DeepClone(), TrialledAt = at })];
    }
}
