using System.Globalization;
using Kiln.Autopilot.Actions;
using Kiln.Autopilot.Expressions;
using Kiln.Autopilot.History;

namespace Kiln.Autopilot.Rules;

/// <summary>
/// One rule of the autopilot: a condition over the run's metrics (<see cref="Conditions"/>), the action it takes when
/// the condition holds, how sure it is (<c>auto</c> applies <c>high</c> and <c>medium</c> and only proposes <c>low</c>)
/// and how many steps it waits after it fired. A windowed condition looks only at points reported after the rule's last
/// firing, so it judges what its own action led to rather than firing again on the same evidence.
/// </summary>
public sealed record Rule
{
    public required string Id { get; init; }

    /// <summary>plateau, divergence, spike, overfitting, above, below or expr (<see cref="Conditions"/>).</summary>
    public required string When { get; init; }

    /// <summary>The metric the condition watches (overfitting: the training loss).</summary>
    public string? Metric { get; init; }

    /// <summary>overfitting: the validation loss beside <see cref="Metric"/>.</summary>
    public string? Versus { get; init; }

    public int Window { get; init; } = 20;

    /// <summary>plateau: the largest range of the window that still counts as flat.</summary>
    public double Epsilon { get; init; } = 0.005;

    /// <summary>divergence, spike: the rise that counts; above, below: the bound; overfitting: the ratio train/val under which it fires.</summary>
    public double Threshold { get; init; }

    /// <summary>expr: the parsed condition and its text.</summary>
    public Expr? Expression { get; init; }

    public string? ExpressionText { get; init; }

    public required AutopilotAction Action { get; init; }

    /// <summary>high, medium or low.</summary>
    public string Confidence { get; init; } = Confidences.Medium;

    /// <summary>Steps to wait after firing before the rule may fire again.</summary>
    public long Cooldown { get; init; } = 10;

    public bool Enabled { get; init; } = true;

    /// <summary>Why the rule fires now, or null when it does not (or cannot tell yet).</summary>
    public string? Check(MetricHistory history, long lastFired) => Conditions.Check(this, history, lastFired);

    /// <summary>As a rules file writes it.</summary>
    public System.Text.Json.Nodes.JsonObject ToJson()
    {
        var o = new System.Text.Json.Nodes.JsonObject { ["id"] = Id, ["when"] = When };
        if (Metric is not null) o["metric"] = Metric;
        if (Versus is not null) o["versus"] = Versus;
        if (ExpressionText is not null) o["expr"] = ExpressionText;
        if (When is Conditions.Plateau or Conditions.Divergence or Conditions.Spike) o["window"] = Window;
        if (When == Conditions.Plateau) o["epsilon"] = Epsilon;
        if (When is not (Conditions.Plateau or Conditions.Expression)) o["threshold"] = Threshold;
        o["action"] = Action.ToJson();
        o["confidence"] = Confidence;
        o["cooldown"] = Cooldown;
        o["enabled"] = Enabled;
        return o;
    }

    internal static string Text(double v) => v.ToString("G4", CultureInfo.InvariantCulture);
}

/// <summary>How sure a rule is of its action.</summary>
public static class Confidences
{
    public const string High = "high";
    public const string Medium = "medium";
    public const string Low = "low";
    public static readonly string[] All = [High, Medium, Low];
}
