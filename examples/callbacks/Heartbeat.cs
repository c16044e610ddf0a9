// Seed 001's Heartbeat callback, in C#. Load it into a running run:
//   ./kiln --dir runs/<run> cb load hb --file examples/callbacks/Heartbeat.cs --enabled --init every=50
public sealed class Heartbeat(string id, int every = 10) : IKilnCallback
{
    public string Id { get; } = id;
    public int Every { get; private set; } = every;

    public void SetParams(JsonObject p)
    {
        if (p["every"] is { } e) Every = (int)e;
    }

    public void Handle(string evt, KernelEnv env)
    {
        if (evt == "train_step_end" && env.Step % Every == 0)
            env.Log($"[{Id}] {evt} step={env.Step} loss={env.Loss:0.####}");
    }
}
