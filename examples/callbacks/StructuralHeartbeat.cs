// Seed 001's Heartbeat with the protocol's shape and no Kiln interface: an Id, Handle(event, env) over the env as a
// dictionary, SetParams over plain values (Python's **kwargs). Load it into a running run like any callback:
//   ./kiln --dir runs/<run> cb load hb --file examples/callbacks/StructuralHeartbeat.cs --enabled --init every=50
public sealed class StructuralHeartbeat(string id, int every = 10)
{
    public string Id { get; } = id;
    public int Every { get; private set; } = every;

    public void SetParams(IDictionary<string, object?> kw)
    {
        if (!kw.TryGetValue("every", out var e)) return;
        // An ArgumentException is the caller's error: the set_params line is rejected and nothing changes.
        if (e is not long n || n is < 1 or > int.MaxValue) throw new ArgumentException($"every: expected an integer >= 1, got {e}");
        Every = (int)n;
    }

    public void Handle(string evt, IDictionary<string, object?> env)
    {
        var step = (long)env["step"]!;
        if (step % Every == 0) (env["log"] as Action<string> ?? Console.WriteLine)($"[{Id}] {evt} step={step}");
    }
}
