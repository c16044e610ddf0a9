using System.Text.Json.Nodes;
using Kiln.Registry.Workspace;

namespace Kiln.Registry.Training;

/// <summary>One training program to run and record (<c>kiln train</c>, or one entry of <c>kiln queue run</c>).</summary>
public sealed record TrainRequest
{
    public required WorkspacePaths Workspace { get; init; }

    /// <summary>The program and its arguments.</summary>
    public required IReadOnlyList<string> Command { get; init; }

    /// <summary>The hyper-parameters injected into a queued run (<see cref="Kiln.Protocol.ChildEnv.QueueParams"/>), or null for a plain training.</summary>
    public JsonObject? Queued { get; init; }

    /// <summary>When the same architecture was trained with the same hyper-parameters before.</summary>
    public RetrainAnswer Retrain { get; init; } = RetrainAnswer.Ask;

    /// <summary>Asks the user a yes/no question (default No); null when there is no terminal to ask on.</summary>
    public Func<string, bool>? Ask { get; init; }

    /// <summary>Messages for the user.</summary>
    public Action<string> Log { get; init; } = _ => { };

    /// <summary>The child's output lines are shown after this prefix (null: kept in the run's logs only).</summary>
    public string? Echo { get; init; } = "";

    public CancellationToken Stop { get; init; }
}
