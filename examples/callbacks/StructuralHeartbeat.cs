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
        var every = Convert.ToInt32(e, System.Globalization.CultureInfo.InvariantCulture);   // "four" is a FormatException: rejected
        Every = every >= 1 ? every : throw new ArgumentException($"every: must be >= 1, got {every}");
    }

    public void Handle(string evt, IDictionary<string, object?> env)
    {
        var step = (long)env["step"]!;
        if (step % Every == 0) (env["log"] as Action<string> ?? Console.WriteLine)($"[{Id}] {evt} step={step}");
    }
}
