namespace Kiln.Registry.Training;

/// <summary>What <c>kiln train</c>, <c>kiln trial</c> and <c>kiln queue run</c> ask of the registry.</summary>
public interface IRunRecords
{
    /// <summary>Every trained model of an architecture, newest first.</summary>
    IReadOnlyList<ModelEntry> Models(string fingerprint);

    /// <summary>Records (or updates) the run from its directory's files.</summary>
    void Index(string runDir);

    /// <summary>Forgets a run whose directory was removed.</summary>
    void Forget(string runId);
}
