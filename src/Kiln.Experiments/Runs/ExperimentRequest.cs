namespace Kiln.Experiments.Runs;

/// <summary>Everything <c>kiln experiment NAME …</c> was asked (seed 004's flags; docs/experiments.md).</summary>
public sealed record ExperimentRequest
{
    public required string Root { get; init; }
    public required string Experiment { get; init; }
    public IReadOnlyList<string> Params { get; init; } = [];
    public IReadOnlyList<string> Names { get; init; } = [];
    public IReadOnlyList<string> Indices { get; init; } = [];
    public IReadOnlyList<string> GlobalIndices { get; init; } = [];
    public int? Parallel { get; init; }
    public bool ParallelSafe { get; init; }
    public bool Overwrite { get; init; }
    public IReadOnlyList<string> OverwriteStages { get; init; } = [];
    public bool StoreFull { get; init; }
    public string? Cache { get; init; }
    public bool Dry { get; init; }
    public bool DryCache { get; init; }
    public bool Lazy { get; init; }
    public bool IgnoreLazy { get; init; }
    public string? Prefix { get; init; }
    public string? Notes { get; init; }
    public bool NoLog { get; init; }
    public bool Verbose { get; init; }
    public bool Quiet { get; init; }
    public bool LogErrors { get; init; }
    public bool Map { get; init; }
    public bool NoDag { get; init; }
    public bool Hashes { get; init; }

    /// <summary><c>--print-params [name|hash-prefix]</c>: null when not given, "" for all.</summary>
    public string? PrintParams { get; init; }
    public bool Paths { get; init; }
    public bool NoReport { get; init; }

    /// <summary><c>--notebook</c>: write <c>notebooks/experiments/{reference}.ipynb</c> (<see cref="RunNotebook"/>).</summary>
    public bool Notebook { get; init; }

    /// <summary><c>--docker</c>: write a build context of the run, and build it when an engine can (<see cref="DockerExport"/>).</summary>
    public bool Docker { get; init; }

    /// <summary>The command line as typed, for the record and the reproduce line.</summary>
    public IReadOnlyList<string> Cli { get; init; } = [];

    /// <summary>Cancelled when the run is asked to stop (a signal; for a worker, its runner gone).</summary>
    public CancellationToken Stop { get; init; }

    /// <summary>The kiln executable that <c>--parallel</c> workers run.</summary>
    public string? KilnBinary { get; init; }

    /// <summary>Flags that only inspect (and so write nothing): <c>--map</c>, <c>--hashes</c>, <c>--print-params</c>, <c>--paths</c>.</summary>
    public bool Inspecting => Map || Hashes || PrintParams is not null || Paths;

    /// <summary><c>--dry</c>, or an inspecting flag: nothing is written at all.</summary>
    public bool WritesNothing => Dry || Inspecting;
}
