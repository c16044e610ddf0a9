using System.Text.Json.Nodes;

namespace Kiln.Autobench;

/// <summary>One row of the table: a condition's runs over the seeds, or the reason it was not run.</summary>
public sealed record ConditionSummary
{
    public required string Task { get; init; }
    public required string Condition { get; init; }
    public required string Start { get; init; }
    public IReadOnlyList<RunResult> Runs { get; init; } = [];
    public string? NotRun { get; init; }

    /// <summary>Compute spent besides the row's own runs, per seed (a tuning grid's other points), in steps.</summary>
    public long ExtraCompute { get; init; }

    public string? Note { get; init; }

    public double FinalMean => Mean(Runs.Select(r => r.FinalVal));
    public double FinalStd => Std(Runs.Select(r => r.FinalVal));
    public double BestMean => Mean(Runs.Select(r => r.BestVal));
    public int Reached => Runs.Count(r => r.StepsToTarget is not null);

    /// <summary>The median steps to the target over the seeds, a seed that never reached it counting as never; null when most never did.</summary>
    public double? MedianStepsToTarget
    {
        get
        {
            if (Runs.Count == 0) return null;
            var sorted = Runs.Select(r => r.StepsToTarget is { } s ? (double)s : double.PositiveInfinity).Order().ToArray();
            var mid = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
            return double.IsFinite(mid) ? mid : null;
        }
    }

    public double WallMean => Mean(Runs.Select(r => r.WallSeconds));

    /// <summary>Steps per seed, the tuning grid included.</summary>
    public double Compute => Mean(Runs.Select(r => (double)r.Compute)) + ExtraCompute;

    public int Actions => Runs.Sum(r => r.Actions);

    private static double Mean(IEnumerable<double> xs)
    {
        var a = xs.ToArray();
        return a.Length == 0 ? double.NaN : a.Average();
    }

    private static double Std(IEnumerable<double> xs)
    {
        var a = xs.ToArray();
        if (a.Length < 2) return 0;
        var m = a.Average();
        return Math.Sqrt(a.Sum(x => (x - m) * (x - m)) / (a.Length - 1));
    }

    public JsonObject ToJson() => new()
    {
        ["task"] = Task, ["condition"] = Condition, ["start"] = Start, ["not_run"] = NotRun, ["note"] = Note,
        ["seeds"] = Runs.Count,
        ["final_val_accuracy_mean"] = RunResult.Json(FinalMean), ["final_val_accuracy_std"] = RunResult.Json(FinalStd),
        ["best_val_accuracy_mean"] = RunResult.Json(BestMean), ["reached_target"] = Runs.Count == 0 ? null : Reached,
        ["median_steps_to_target"] = MedianStepsToTarget, ["wall_seconds_mean"] = RunResult.Json(WallMean),
        ["compute_steps_per_seed"] = Runs.Count == 0 ? null : Compute, ["actions"] = Actions,
    };
}
