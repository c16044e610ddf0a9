using System.Text.Json.Nodes;

namespace Kiln.Autobench;

/// <summary>What one run of a condition reached: its validation curve, final and best accuracy, steps to the target, time and compute.</summary>
public sealed record RunResult
{
    public required string Task { get; init; }
    public required string Condition { get; init; }
    public required string Start { get; init; }
    public required long Seed { get; init; }
    public required double Lr { get; init; }
    public required string Status { get; init; }
    public string? Error { get; init; }
    public required string RunDir { get; init; }
    public required long[] Steps { get; init; }
    public required double[] ValAccuracy { get; init; }
    public double FinalVal => ValAccuracy.Length == 0 ? double.NaN : ValAccuracy[^1];
    public double BestVal => ValAccuracy.Length == 0 ? double.NaN : ValAccuracy.Max();

    /// <summary>Training steps until the validation accuracy first reached the target (the evaluation's step + 1); null if never.</summary>
    public long? StepsToTarget { get; init; }

    public required double WallSeconds { get; init; }

    /// <summary>Training steps taken: the compute, in the bench's unit.</summary>
    public required long Compute { get; init; }

    /// <summary>Commands the controller sent.</summary>
    public int Actions { get; init; }

    public JsonObject ToJson() => new()
    {
        ["task"] = Task, ["condition"] = Condition, ["start"] = Start, ["seed"] = Seed, ["lr"] = Lr, ["status"] = Status, ["error"] = Error,
        ["run_dir"] = RunDir, ["final_val_accuracy"] = Json(FinalVal), ["best_val_accuracy"] = Json(BestVal), ["steps_to_target"] = StepsToTarget,
        ["wall_seconds"] = Math.Round(WallSeconds, 3), ["compute_steps"] = Compute, ["actions"] = Actions,
        ["curve"] = new JsonObject
        {
            ["step"] = new JsonArray([.. Steps.Select(s => (JsonNode)s)]),
            ["val_accuracy"] = new JsonArray([.. ValAccuracy.Select(v => Json(v))]),
        },
    };

    /// <summary>JSON has no NaN: an accuracy never measured is null.</summary>
    internal static JsonNode? Json(double v) => double.IsFinite(v) ? JsonValue.Create(Math.Round(v, 5)) : null;
}
