namespace Kiln.Registry.Training;

/// <summary>How a training ended: its run (null when nothing was recorded), status and, for a declined retraining, the runs it repeated.</summary>
public sealed record TrainOutcome(string? RunDir, string Status, string? Error, IReadOnlyList<string> SameAs)
{
    /// <summary>The user declined to train again what was trained before: nothing was recorded.</summary>
    public const string Declined = "declined";

    public bool Succeeded => Status == Kiln.Protocol.RunInfo.Completed;
}
