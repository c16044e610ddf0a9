// Watches the training loss: when a step's loss exceeds `factor` times its running mean, it reports a
// `loss_spike` metric and logs it, so the spike shows on the dashboard and in the metrics file. Load it with:
//   ./kiln --dir runs/<run> cb load spikes --file examples/callbacks/LossSpikeGuard.cs --enabled --init factor=3
public sealed class LossSpikeGuard(string id, double factor = 3.0, int warmup = 50) : IKilnCallback
{
    private double _mean;
    private long _seen;

    public string Id { get; } = id;
    public double Factor { get; private set; } = factor;

    public void SetParams(JsonObject p)
    {
        if (p["factor"] is { } f) Factor = (double)f;
    }

    public void Handle(string evt, KernelEnv env)
    {
        if (evt != "train_step_end" || env.Loss is not { } loss || !double.IsFinite(loss)) return;
        _seen++;
        if (_seen > warmup && loss > Factor * _mean)
        {
            env.Emit(("loss_spike", loss / _mean));
            env.Log($"[{Id}] step {env.Step}: loss {loss:0.####} is {loss / _mean:0.#}x its running mean");
        }
        _mean += (loss - _mean) / Math.Min(_seen, 200);
    }
}
