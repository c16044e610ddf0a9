namespace Kiln.Registry.Records;

/// <summary>What started a run, as <c>kiln.run.json</c>'s <c>kind</c> says. Other kinds are recorded as they come.</summary>
public static class RunKinds
{
    public const string Launch = "launch";
    public const string Demo = "demo";
    /// <summary>A cfg-tree trial (seed 002).</summary>
    public const string Trial = "trial";
    /// <summary>A run of the workspace's trial command (<c>kiln trial</c>) evaluating a trained model.</summary>
    public const string ModelTrial = "model-trial";
    public const string Train = "train";
    /// <summary>A training started by <c>kiln queue run</c>, with one entry of the queue file as its hyper-parameters.</summary>
    public const string Queue = "queue";
    public const string Experiment = "experiment";

}
