namespace Kiln.Experiments.Pipeline;

/// <summary>Where a stage stands in a run.</summary>
public enum StageStatus
{
    /// <summary>Declared; its key waits for an upstream stage that has to run first.</summary>
    Pending,
    /// <summary>Every output is in the cache for its key.</summary>
    Cached,
    /// <summary>Its outputs' data versions are recorded for its key, but not every artifact is on disk: it runs only if a stage that runs reads them.</summary>
    Known,
    /// <summary>It has to run (<see cref="StageNode.Reason"/> says why).</summary>
    Run,
    /// <summary>It ran in this process.</summary>
    Executed,
    Failed,
}

/// <summary>Why a stage runs: what changed since its last result, as <c>--map</c> and the report say.</summary>
public static class RunReasons
{
    public const string New = "new (never computed)";
    public const string Code = "code changed";
    public const string Params = "params changed";
    public const string InputData = "input data changed";
    public const string Overwrite = "overwrite";
    public const string NoOutputs = "no outputs (always runs)";
    public const string NoCacher = "not cached (no cacher)";
    public const string Corrupt = "cached artifact corrupt";
    public const string Missing = "cached artifact missing";
    public const string Upstream = "waits for upstream (its input data may change)";
    public const string Needed = "its output is needed by a stage that runs";
}
