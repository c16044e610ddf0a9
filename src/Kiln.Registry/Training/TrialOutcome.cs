using System.Text.Json.Nodes;

namespace Kiln.Registry.Training;

/// <summary>How a trial ended: the model trialled and its result (recorded on <see cref="Updated"/> runs), or why there was none.</summary>
public sealed record TrialOutcome(TrialEnd End, string? RunDir, ModelEntry? Model, JsonObject? Result, int Updated, string Message);

public enum TrialEnd
{
    /// <summary>The result is recorded on every run of the model's architecture and hyper-parameters.</summary>
    Recorded,
    /// <summary>No model of the program's architecture was ever trained.</summary>
    NoModel,
    /// <summary><c>--all</c>: every model of the architecture has a result.</summary>
    AllTrialled,
    /// <summary>The program ended without reporting a result.</summary>
    NoResult,
    /// <summary>The program failed, was stopped, or no model was chosen.</summary>
    Failed,
}
