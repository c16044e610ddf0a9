namespace Kiln.Execution.Jobs;

/// <summary>
/// One unit of work for an executor: a command line with its environment, where it runs and what it may use. The
/// same spec runs as a local child process or as a task of a cluster job.
/// </summary>
public sealed record JobSpec
{
    /// <summary>A short name for progress displays and logs (a trial's name, say).</summary>
    public required string Name { get; init; }

    /// <summary>The program and its arguments, one element each (no shell, so no quoting problems).</summary>
    public required IReadOnlyList<string> Argv { get; init; }

    /// <summary>Variables added to the job's environment.</summary>
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();

    public string? WorkingDirectory { get; init; }

    /// <summary>The run directory the job trains in: it is told so in <c>KILN_RUN_DIR</c>, and its logs go there.</summary>
    public string? RunDirectory { get; init; }

    /// <summary>Where <c>stdout.log</c> and <c>stderr.log</c> are written; the run directory by default.</summary>
    public string? LogDirectory { get; init; }

    /// <summary>Cores the job may use: passed as <c>KILN_THREADS</c> (and to a cluster as its CPU count).</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Memory the job may use, in MiB (a cluster enforces it; the local pool only passes it on).</summary>
    public long? MemoryMb { get; init; }

    /// <summary>
    /// Also write the job's output, line by line, to this process's stdout and stderr after this prefix (<c>""</c>: as
    /// is; <c>"[name] "</c> when several run at once); null keeps it in the logs only.
    /// </summary>
    public string? EchoPrefix { get; init; }

    /// <summary>A file whose existence means the job completed before: a resumed submission does not run it again.</summary>
    public string? DoneMarker { get; init; }

    /// <summary>The folder of <c>stdout.log</c> and <c>stderr.log</c>, or null when output is not kept.</summary>
    public string? LogFolder => LogDirectory ?? RunDirectory;

    public bool IsDone => DoneMarker is not null && File.Exists(DoneMarker);
}
