namespace Kiln.Registry.Training;

/// <summary>What <c>kiln train</c>, <c>kiln trial</c> and <c>kiln queue run</c> ask of the registry.</summary>
public interface IRunRecords
{
    /// <summary>Every trained model of an architecture, newest first.</summary>
    IReadOnlyList<ModelEntry> Models(string fingerprint);

    /// <summary>Records (or updates) the run from its directory's files.</summary>
    void Index(string runDir);

    /// <summary>
    /// Gives a trial's result to every model trained with the architecture and hyper-parameters of <paramref name="model"/>
    /// (in their folders and in the registry); returns how many.
    /// </summary>
    int ShareResult(ModelEntry model, System.Text.Json.Nodes.JsonObject result);

    /// <summary>Forgets a run whose directory was removed.</summary>
    void Forget(string runId);
}
