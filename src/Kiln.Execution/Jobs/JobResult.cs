namespace Kiln.Execution.Jobs;

/// <summary>How a job ended.</summary>
/// <param name="ExitCode">The process's exit code, when it ran and exited.</param>
/// <param name="Error">Why it failed: the exit code and the last lines of its stderr.</param>
/// <param name="AlreadyDone">It was not run because its done marker existed.</param>
public sealed record JobResult(JobHandle Job, JobState State, int? ExitCode, string? Error, TimeSpan Duration, bool AlreadyDone = false);
