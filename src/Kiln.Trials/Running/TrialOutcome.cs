namespace Kiln.Trials.Running;

/// <summary>How a trial ended, as its runner saw it.</summary>
public sealed record TrialOutcome(Expansion.TrialSpec Trial, TrialStatus Status, string? Error, TimeSpan Duration);
