using System.Text.Json.Nodes;

namespace Kiln.Registry.Records;

/// <summary>
/// One run as the registry knows it: read from its run directory's files (<see cref="Indexing.RunIndexer"/>), which
/// stay the source of truth. A run that reported an architecture and saved weights is a trained <em>model</em>
/// (<see cref="IsModel"/>): <c>kiln models</c> lists those, and <c>kiln trial</c> chooses among them.
/// </summary>
public sealed record RunRecord
{
    private JsonColumn _params = JsonColumn.Empty;
    private JsonColumn _swept = JsonColumn.Empty;
    private JsonColumn _metrics = JsonColumn.Empty;
    private JsonColumn _trialResult = JsonColumn.Empty;

    /// <summary>Unique: the folder's name for a run in <c>runs/</c>, the path below <c>out/log/</c> for a trial, else the path from the root.</summary>
    public required string Id { get; init; }

    /// <summary>launch, demo, trial, train, queue, experiment (<see cref="RunKinds"/>).</summary>
    public required string Kind { get; init; }

    /// <summary>The run directory, relative to the workspace root, with '/'.</summary>
    public required string Dir { get; init; }

    /// <summary>running, completed, failed, stopped, interrupted; pending for a trial not run yet; unknown when kiln.run.json cannot be read.</summary>
    public required string Status { get; init; }

    /// <summary>Unix seconds.</summary>
    public double? Start { get; init; }

    public double? End { get; init; }
    public string? Host { get; init; }
    public string? Config { get; init; }

    /// <summary>The hyper-parameters: <c>kiln.params.json</c> when the trainer registered them, else <c>kiln.run.json</c>'s.</summary>
    public JsonObject? Params { get => _params.Value; init => _params = JsonColumn.Of(value); }

    /// <summary>A cfg-tree trial's swept values (<c>kiln.trial.json</c>).</summary>
    public JsonObject? Swept { get => _swept.Value; init => _swept = JsonColumn.Of(value); }

    /// <summary>The final value of each metric.</summary>
    public JsonObject? Metrics { get => _metrics.Value; init => _metrics = JsonColumn.Of(value); }

    /// <summary>The architecture's fingerprint (<c>kiln.model.json</c>): runs with the same one trained the same architecture.</summary>
    public string? Fingerprint { get; init; }

    /// <summary>A readable description of the architecture (layers and shapes).</summary>
    public string? ArchitectureSummary { get; init; }

    /// <summary>The saved weights, relative to the workspace root.</summary>
    public string? Weights { get; init; }

    /// <summary>What the trial of these weights reported (<c>kiln.result.json</c>); null until trialled.</summary>
    public JsonObject? TrialResult { get => _trialResult.Value; init => _trialResult = JsonColumn.Of(value); }

    /// <summary>Unix seconds of the trial result.</summary>
    public double? TrialledAt { get; init; }

    /// <summary>The commit holding the run's code: the snapshot's when there is one, else HEAD when the run started.</summary>
    public string? GitCommit { get; init; }

    /// <summary>Whether the working tree differed from HEAD (the snapshot holds the difference); null when unknown.</summary>
    public bool? Dirty { get; init; }

    /// <summary>The hidden ref that keeps the snapshot: <c>refs/kiln/runs/&lt;id&gt;</c>.</summary>
    public string? SnapshotRef { get; init; }

    public string? Error { get; init; }

    /// <summary>The hyper-parameters as canonical JSON text (<see cref="CanonicalJson"/>): <c>{}</c> when there are none.</summary>
    public string ParamsJson => _params.Text ?? CanonicalJson.EmptyObject;

    /// <summary>The trial result as canonical JSON text, or null.</summary>
    public string? TrialResultJson => _trialResult.Text;

    internal string? SweptJson => _swept.Text;

    internal string? MetricsJson => _metrics.Text;

    /// <summary>A record read from the registry: its JSON columns as stored, parsed when first asked for.</summary>
    internal RunRecord WithStoredJson(string? parameters, string? swept, string? metrics, string? trialResult)
    {
        var copy = this with { };
        copy._params = JsonColumn.FromText(parameters);
        copy._swept = JsonColumn.FromText(swept);
        copy._metrics = JsonColumn.FromText(metrics);
        copy._trialResult = JsonColumn.FromText(trialResult);
        return copy;
    }

    /// <summary>A trained model: the run reported its architecture and saved weights.</summary>
    public bool IsModel => Fingerprint is not null && Weights is not null;

    public bool IsTrialled => TrialResult is not null;

    /// <summary>The record as <c>kiln models --json</c> prints it: every field, in snake case.</summary>
    public JsonObject ToJson() => new()
    {
        ["id"] = Id,
        ["kind"] = Kind,
        ["dir"] = Dir,
        ["status"] = Status,
        ["start"] = Start,
        ["end"] = End,
        ["host"] = Host,
        ["config"] = Config,
        ["params"] = Params?.DeepClone() ?? new JsonObject(),
        ["swept"] = Swept?.DeepClone(),
        ["metrics"] = Metrics?.DeepClone(),
        ["fingerprint"] = Fingerprint,
        ["architecture_summary"] = ArchitectureSummary,
        ["weights"] = Weights,
        ["trial_result"] = TrialResult?.DeepClone(),
        ["trialled_at"] = TrialledAt,
        ["git_commit"] = GitCommit,
        ["dirty"] = Dirty,
        ["snapshot_ref"] = SnapshotRef,
        ["error"] = Error,
    };
}
