using System.Globalization;
using System.Text.Json.Nodes;
using Kiln.Modules.Callbacks;
using Kiln.Protocol;
using Kiln.Modules;

namespace Kiln.Callbacks;

/// <summary>Logs the trainer's latest metrics (all, or those named in <c>metrics</c>) every <c>every</c> steps.</summary>
public sealed class MetricLogger(string id, int every = 100, string[]? metrics = null) : IKilnCallback
{
    public string Id { get; } = id;
    public int Every { get; private set; } = CallbackParams.Every(every);
    public IReadOnlyList<string>? Metrics { get; private set; } = metrics;

    public void Handle(string evt, KernelEnv env)
    {
        if (evt != "train_step_end" || env.Step % Every != 0) return;
        var names = Metrics ?? env.Metrics.Keys.Order(StringComparer.Ordinal).ToList();
        var shown = names.Where(env.Metrics.ContainsKey).Select(n => $"{n}={env.Metrics[n].ToString("G5", CultureInfo.InvariantCulture)}");
        env.Log($"[{Id}] step {env.Step}: {string.Join(" ", shown)}");
    }

    public void SetParams(JsonObject parameters)
    {
        JsonValues.RejectUnknownKeys(parameters, ["every", "metrics"], "");
        if (parameters["every"] is { } e) Every = CallbackParams.Every((int)JsonValues.GetLong(e, "every"));
        if (parameters.ContainsKey("metrics"))
        {
            Metrics = parameters["metrics"] switch
            {
                null => null,
                JsonArray a => a.Select((n, i) => JsonValues.GetString(n, $"metrics[{i}]")).ToList(),
                var other => JsonValues.GetString(other, "metrics").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries),
            };
        }
    }
}
