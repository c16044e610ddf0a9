using Kiln.Experiments.Hashing;

namespace Kiln.Experiments.Pipeline;

public enum LogLevel
{
    Debug,
    Info,
    Warning,
    Error,
}

/// <summary>How an experiment runs: where its cache is, what it may write, and what to recompute (the seed's flags).</summary>
public sealed record ExperimentOptions
{
    public required string ExperimentName { get; init; }
    public required string CacheDirectory { get; init; }

    /// <summary>The cache files' prefix (<c>--prefix</c>); the experiment name by default.</summary>
    public string? Prefix { get; init; }

    /// <summary><c>--overwrite</c>: recompute every stage.</summary>
    public bool Overwrite { get; init; }

    /// <summary><c>--overwrite-stage</c>: recompute these stages (and so whatever downstream then reads different data).</summary>
    public IReadOnlySet<string> OverwriteStages { get; init; } = new HashSet<string>();

    /// <summary><c>--dry-cache</c> (and <c>--dry</c>): read the cache, write nothing to it.</summary>
    public bool DryCache { get; init; }

    /// <summary><c>--lazy</c>: every output is lazy; outputs without a cacher get a <see cref="Caching.JsonCacher"/>.</summary>
    public bool Lazy { get; init; }

    /// <summary><c>--ignore-lazy</c>: lazy outputs are kept in memory like the others.</summary>
    public bool IgnoreLazy { get; init; }

    /// <summary><c>--no-dag</c>: run each stage as it is called (values can be read between stages).</summary>
    public bool NoDag { get; init; }

    /// <summary>Whose IL counts as the stages' code; by default the stages' own assemblies and compiled experiment sources.</summary>
    public CodeHasher? Code { get; init; }

    /// <summary>Where log lines go (the console, the log file).</summary>
    public Action<LogLevel, string> Log { get; init; } = (_, _) => { };

    /// <summary>The run, as recorded in each artifact's metadata (<c>manager_run_info</c>).</summary>
    public string? RunReference { get; init; }

    /// <summary>
    /// Cancelled to stop (a signal, or a <c>--parallel</c> worker's runner gone): no further stage starts; the one running
    /// finishes and is saved (a stage body cannot be interrupted safely, and its writes are atomic anyway).
    /// </summary>
    public CancellationToken Stop { get; init; }
}
