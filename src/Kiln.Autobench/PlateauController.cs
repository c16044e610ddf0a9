using Kiln.Autopilot.Actions;
using Kiln.Control;
using Kiln.Metrics;
using Kiln.Protocol;

namespace Kiln.Autobench;

/// <summary>
/// Keras' <c>ReduceLROnPlateau</c> as an outside controller: it reads the monitored metric through Core's
/// <see cref="MetricsReader"/> and, when it has not improved by more than <see cref="MinDelta"/> for
/// <see cref="Patience"/> evaluations, multiplies the learning rate by <see cref="Factor"/> with a command in the inbox
/// (source <c>reduce_lr_on_plateau</c>) — the same path, and the same ledger, as the autopilot's actions. The
/// defaults are Keras' (factor 0.1, patience 10, min_delta 1e-4 absolute, cooldown 0, mode min, min_lr 0), with an
/// "epoch" being one validation.
/// </summary>
public sealed class PlateauController : IBenchController
{
    public const string Source = "reduce_lr_on_plateau";

    private readonly MetricsReader _reader;
    private readonly RunControl _control;
    private double _best = double.PositiveInfinity;
    private int _wait;
    private int _cooldownLeft;

    public PlateauController(string runDir, string monitor = "val_loss")
    {
        Monitor = monitor;
        _reader = new MetricsReader(Path.Combine(runDir, RunFiles.Metrics));
        _control = new RunControl(runDir, Source);
    }

    public string Monitor { get; }
    public double Factor { get; init; } = 0.1;
    public int Patience { get; init; } = 10;
    public double MinDelta { get; init; } = 1e-4;
    public int Cooldown { get; init; }
    public int Actions { get; private set; }

    /// <summary>The steps at which the rate was reduced.</summary>
    public List<long> Reductions { get; } = [];

    public void Poll()
    {
        _reader.Read();
        if (_reader.Series.TryGetValue(Monitor, out var series))
        {
            var steps = series.Steps;
            var values = series.Values;
            for (var i = 0; i < series.Count; i++) Observe(steps[i], values[i]);
        }
        _reader.Forget();
    }

    /// <summary>One evaluation, in Keras' order: cooldown, improvement, patience.</summary>
    internal void Observe(long step, double current)
    {
        if (_cooldownLeft > 0)
        {
            _cooldownLeft--;
            _wait = 0;
        }
        if (current < _best - MinDelta)
        {
            _best = current;
            _wait = 0;
        }
        else if (_cooldownLeft == 0 && ++_wait >= Patience)
        {
            var (command, _) = new AutopilotAction(AutopilotAction.LrMult, Factor).ToCommand([]);
            _control.Send(command!);
            Actions++;
            Reductions.Add(step);
            _cooldownLeft = Cooldown;
            _wait = 0;
        }
    }
}
