namespace Kiln.Cli.Tests;

/// <summary>
/// The test classes that run trials on the single-node cluster (scripts/slurm-up.sh) run one after the other: its two
/// CPUs are shared, and a class's long trials would keep another's requeued tasks pending past their waits.
/// </summary>
[CollectionDefinition(Name)]
public sealed class SlurmClusterCollection
{
    public const string Name = "slurm cluster";
}
