using System.Diagnostics;
using System.Text.Json.Nodes;
using Kiln.Modules.Callbacks;
using Kiln.Protocol;
using Kiln.Modules;

namespace Kiln.Callbacks;

/// <summary>
/// Step-time statistics: the time between consecutive <c>train_step_end</c> events, reported every <c>every</c>
/// steps as <c>step_ms_mean</c>, <c>step_ms_p50</c>, <c>step_ms_p95</c>, <c>step_ms_max</c> and <c>steps_per_s</c>.
/// </summary>
public sealed class Timing(string id, int every = 100) : IKilnCallback
{
    private readonly List<double> _window = [];
    private long _last;

    public string Id { get; } = id;
    public int Every { get; private set; } = CallbackParams.Every(every);

    public void Handle(string evt, KernelEnv env)
    {
        if (evt != "train_step_end") return;
        var now = Stopwatch.GetTimestamp();
        if (_last != 0) _window.Add(Stopwatch.GetElapsedTime(_last, now).TotalMilliseconds);
        _last = now;
        if (_window.Count < Every) return;
        _window.Sort();
        var mean = _window.Average();
        var p50 = _window[_window.Count / 2];
        var p95 = _window[Math.Min(_window.Count - 1, (int)(_window.Count * 0.95))];
        var max = _window[^1];
        env.Emit(("step_ms_mean", mean), ("step_ms_p50", p50), ("step_ms_p95", p95), ("step_ms_max", max), ("steps_per_s", 1000.0 / mean));
        env.Log($"[{Id}] step {env.Step}: {mean:0.###} ms/step (p50 {p50:0.###}, p95 {p95:0.###}, max {max:0.###})");
        _window.Clear();
    }

    public void SetParams(JsonObject parameters)
    {
        JsonValues.RejectUnknownKeys(parameters, ["every"], "");
        if (parameters["every"] is { } e) Every = CallbackParams.Every((int)JsonValues.GetLong(e, "every"));
    }
}
