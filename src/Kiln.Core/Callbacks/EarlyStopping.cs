using System.Globalization;
using System.Text.Json.Nodes;
using Kiln.Modules.Callbacks;
using Kiln.Protocol;
using Kiln.Modules;

namespace Kiln.Callbacks;

/// <summary>
/// Asks the trainer to stop when <c>metric</c> has not improved by more than <c>min_delta</c> for <c>patience</c>
/// evaluations (<c>val_epoch_end</c>); <c>mode</c> is <c>min</c> or <c>max</c>.
/// </summary>
public sealed class EarlyStopping : IKilnCallback
{
    private double _best = double.NaN;
    private long _bestStep;
    private int _wait;

    public EarlyStopping(string id, string metric = "val_loss", string mode = "min", int patience = 5, double minDelta = 0)
    {
        Id = id;
        Configure(metric, mode, patience, minDelta);
    }

    public string Id { get; }
    public string Metric { get; private set; } = "";
    public string Mode { get; private set; } = "";
    public int Patience { get; private set; }
    public double MinDelta { get; private set; }

    private void Configure(string metric, string mode, int patience, double minDelta)
    {
        if (mode is not ("min" or "max")) throw new ProtocolException($"mode: expected min or max, got \"{mode}\"");
        if (patience < 1) throw new ProtocolException($"patience: must be >= 1, got {patience}");
        if (minDelta < 0) throw new ProtocolException($"min_delta: must be >= 0, got {minDelta}");
        (Metric, Mode, Patience, MinDelta) = (metric, mode, patience, minDelta);
    }

    public void Handle(string evt, KernelEnv env)
    {
        if (evt != "val_epoch_end" || !env.Metrics.TryGetValue(Metric, out var value) || !double.IsFinite(value)) return;
        var better = double.IsNaN(_best) || (Mode == "min" ? value < _best - MinDelta : value > _best + MinDelta);
        if (better)
        {
            (_best, _bestStep, _wait) = (value, env.Step, 0);
            return;
        }
        if (++_wait >= Patience)
        {
            env.RequestStop(string.Create(CultureInfo.InvariantCulture,
                $"[{Id}] early stopping at step {env.Step}: {Metric} has not improved for {Patience} evaluations (best {_best:G6} at step {_bestStep})"));
        }
    }

    public void SetParams(JsonObject p)
    {
        JsonValues.RejectUnknownKeys(p, ["metric", "mode", "patience", "min_delta"], "");
        Configure(
            p["metric"] is { } m ? JsonValues.GetString(m, "metric") : Metric,
            p["mode"] is { } mo ? JsonValues.GetString(mo, "mode") : Mode,
            p["patience"] is { } pa ? (int)JsonValues.GetLong(pa, "patience") : Patience,
            p["min_delta"] is { } d ? JsonValues.GetDouble(d, "min_delta") : MinDelta);
    }
}
