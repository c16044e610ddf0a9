using System.Text.Json.Nodes;
using Kiln.Autopilot.Actions;

namespace Kiln.Autopilot.Engine;

/// <summary>
/// One decision of the autopilot, as <c>kiln.autopilot.jsonl</c> records it: the rule that fired, at which step, why
/// (<see cref="Rationale"/>), the action, and what became of it (<see cref="ProposalStatus"/>). An applied action names
/// the command it sent (<see cref="Cid"/>), whose ledger line says what the kernel decided.
/// </summary>
public sealed record Proposal
{
    public required string Id { get; init; }
    public required string Rule { get; init; }
    public required long Step { get; init; }
    public required double Ts { get; init; }
    public required string Rationale { get; init; }
    public required AutopilotAction Action { get; init; }
    public required string Confidence { get; init; }
    public required string Status { get; init; }
    public string? Cid { get; init; }

    /// <summary>Where a rollback goes back to (the newest checkpoint at or before it): the last step the rule's metric was healthy at, or a probe segment's start.</summary>
    public long? HealthyStep { get; init; }

    /// <summary>Why nothing was sent (a skipped proposal), or who accepted or rejected it.</summary>
    public string? Note { get; init; }

    public JsonObject ToJson() => new()
    {
        ["id"] = Id, ["ts"] = Ts, ["step"] = Step, ["rule"] = Rule, ["status"] = Status, ["confidence"] = Confidence,
        ["action"] = Action.ToJson(), ["summary"] = Action.ToString(), ["rationale"] = Rationale, ["cid"] = Cid, ["note"] = Note,
        ["healthy_step"] = HealthyStep,
    };
}

/// <summary>What became of a proposal.</summary>
public static class ProposalStatus
{
    /// <summary>Waiting for a person (suggest mode, or low confidence in auto mode).</summary>
    public const string Suggested = "suggested";
    /// <summary>Sent to the inbox by the autopilot itself.</summary>
    public const string Applied = "applied";
    /// <summary>Accepted by a person, and sent.</summary>
    public const string Accepted = "accepted";
    public const string Rejected = "rejected";
    /// <summary>Raised for the AI autopilot to weigh; nothing is sent.</summary>
    public const string Alert = "alert";
    /// <summary>Nothing to send (a weight decay of 0 multiplied), or the run could not take it.</summary>
    public const string Skipped = "skipped";
}
