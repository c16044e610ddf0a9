namespace Kiln.Registry.Training;

/// <summary>Code snapshots of the workspace's repository, one per run, that leave the user's work untouched.</summary>
public interface ICodeSnapshots
{
    /// <summary>Snapshots the working tree for the run and writes <c>kiln.snapshot.json</c> into its directory; returns a line for the user.</summary>
    string Take(string runDir, string runId, string message);

    /// <summary>Drops the snapshot of a run that recorded nothing.</summary>
    void Drop(string runId);
}
