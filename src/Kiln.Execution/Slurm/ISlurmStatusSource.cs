namespace Kiln.Execution.Slurm;

/// <summary>
/// Where the tasks of some job arrays stand, for all of them at once: <see cref="SlurmStatusReader"/> asks the cluster;
/// tests answer without one.
/// </summary>
public interface ISlurmStatusSource
{
    /// <summary>The state of every task of these arrays that the source knows, by <c>arrayid_task</c>; one call however many tasks.</summary>
    IReadOnlyDictionary<string, SlurmTaskState> Read(IReadOnlyCollection<string> arrayIds);
}
