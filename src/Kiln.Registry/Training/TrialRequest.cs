using Kiln.Registry.Workspace;

namespace Kiln.Registry.Training;

/// <summary>One run of the trial program (<c>kiln trial</c>): which model it evaluates is chosen once it says its architecture.</summary>
public sealed record TrialRequest
{
    public required WorkspacePaths Workspace { get; init; }

    public required IReadOnlyList<string> Command { get; init; }

    /// <summary>The run whose model to trial (<c>--model</c>); null to choose.</summary>
    public string? Model { get; init; }

    /// <summary>Trial the newest model not trialled yet, without asking (<c>--all</c>).</summary>
    public bool NextUntrialled { get; init; }

    /// <summary>Picks one of the models of the architecture (newest first), or returns null to stop; null when there is no terminal.</summary>
    public Func<IReadOnlyList<ModelEntry>, ModelEntry?>? Choose { get; init; }

    public Action<string> Log { get; init; } = _ => { };

    public string? Echo { get; init; } = "";

    public CancellationToken Stop { get; init; }
}
