using System.Globalization;
using Kiln.Autopilot.Actions;
using Kiln.Autopilot.History;

namespace Kiln.Autopilot.Probe;

/// <summary>
/// A learning-rate probe at the start of a run, each segment from the same weights: the run trains one segment (from
/// one poll of the autopilot to the next) at the rate it has, then is rolled back to the checkpoint taken where that
/// segment began (<c>restore_checkpoint</c>) and trains a segment at <see cref="Step"/> × the rate; if that one ends
/// at a lower <see cref="Metric"/> the third segment tries <see cref="Step"/>² ×, otherwise ÷ <see cref="Step"/>. Then it
/// rolls back to the end of the best segment (none when the best is the last) and sets its rate. Every change is an
/// action with its rationale, sent like any other. A run followed from its start makes its first interval (step 0 to
/// the first evaluation) the first segment, so the probe costs two segments, not three. It relies on a checkpoint at
/// every poll and one at step 0 (a run with periodic checkpoints writes both; the bench's steered runs keep one per evaluation); a run that cannot roll back rejects the rollbacks and the segments simply follow each other.
/// The probe decides only from the metrics it is fed, so it is tested by feeding it numbers.
/// </summary>
public sealed class LrProbe
{
    private readonly List<(double Lr, double Score, long End)> _segments = [];
    private double? _base;
    private long _start;
    private long _segmentFrom;

    /// <summary>The rule name of the probe's proposals.</summary>
    public const string RuleId = "lr_probe";

    /// <summary>The factor between the rates tried.</summary>
    public double Step { get; init; } = 10;

    /// <summary>What a segment is judged by, at its end (lower is better; not a number is the worst).</summary>
    public string Metric { get; init; } = "val_loss";

    public string LrMetric { get; init; } = "lr";

    public bool Done { get; private set; }

    /// <summary>The segments judged so far: rate, metric at the end, and the step it ended at.</summary>
    public IReadOnlyList<(double Lr, double Score, long End)> Segments => _segments;

    /// <summary>The rate chosen, once <see cref="Done"/>.</summary>
    public double? Chosen { get; private set; }

    /// <summary>
    /// The probe's next actions and why, each with the step a rollback goes back to (the newest checkpoint at or
    /// before it), or none while it waits (or is done).
    /// </summary>
    public IReadOnlyList<(AutopilotAction Action, string Rationale, long? Back)> Next(MetricHistory history)
    {
        if (Done) return [];
        if (_base is null)
        {
            if (history.Last(LrMetric) is not { } lr || !double.IsFinite(lr) || lr <= 0) return [];
            _base = lr;
            if (history.StepBack(LrMetric, history.Count(LrMetric)) == 0 && history.Count(Metric) > 0)
            {
                // The run has trained from step 0 at its own rate up to its first evaluation: that is the first segment,
                // and the others go back to step 0 (the checkpoint a run keeping them writes before its first step).
                _start = 0;
                _segmentFrom = -1;
            }
            else
            {
                // Joined later: the first segment trains at the run's own rate from the next step, from the checkpoint after this poll.
                _start = history.Step + 1;
                _segmentFrom = history.Step;
                return [];
            }
        }
        if (history.Step <= _segmentFrom || history.Count(Metric) == 0 || history.StepBack(Metric, 1) <= _segmentFrom) return [];
        var score = history.Last(Metric)!.Value;
        _segments.Add((_base.Value * FactorOf(_segments.Count), double.IsFinite(score) ? score : double.PositiveInfinity, history.Step + 1));
        _segmentFrom = history.Step;
        if (_segments.Count < 3)
        {
            var lr = _base.Value * FactorOf(_segments.Count);
            var why = $"learning-rate probe: segment {_segments.Count} at lr {T(_segments[^1].Lr)} ended at {Metric} {T(_segments[^1].Score)}; " +
                      $"back to step {_start} to try lr {T(lr)}";
            return [(new AutopilotAction(AutopilotAction.RestoreCheckpoint), why, _start), (new AutopilotAction(AutopilotAction.SetLr, lr), why, null)];
        }
        Done = true;
        var best = _segments.MinBy(s => s.Score);
        Chosen = best.Lr;
        var table = string.Join(", ", _segments.Select(s => $"{T(s.Lr)}: {T(s.Score)}"));
        var done = $"learning-rate probe done: lr {T(best.Lr)} ended lowest ({Metric} after one segment each from step {_start}: {table})";
        if (best == _segments[^1]) return [(new AutopilotAction(AutopilotAction.SetLr, best.Lr), done + "; the run goes on from its last segment", null)];
        return [(new AutopilotAction(AutopilotAction.RestoreCheckpoint), done + $"; back to that segment's end, step {best.End}", best.End),
            (new AutopilotAction(AutopilotAction.SetLr, best.Lr), done, null)];
    }

    /// <summary>The factor of segment <paramref name="i"/>: 1, then <see cref="Step"/>, then <see cref="Step"/>² if going up helped, else 1/<see cref="Step"/>.</summary>
    private double FactorOf(int i) => i switch
    {
        0 => 1,
        1 => Step,
        _ => _segments[1].Score < _segments[0].Score ? Step * Step : 1 / Step,
    };

    private static string T(double v) => v.ToString("G3", CultureInfo.InvariantCulture);
}
