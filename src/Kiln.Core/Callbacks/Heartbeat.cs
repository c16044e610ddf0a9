using System.Text.Json.Nodes;
using Kiln.Modules.Callbacks;
using Kiln.Protocol;
using Kiln.Modules;

namespace Kiln.Callbacks;

/// <summary>Logs <c>[id] event step=N</c> every <c>every</c> steps: proof of life (seed 001's example).</summary>
public sealed class Heartbeat(string id, int every = 10) : IKilnCallback
{
    public string Id { get; } = id;
    public int Every { get; private set; } = CallbackParams.Every(every);

    public void Handle(string evt, KernelEnv env)
    {
        if (env.Step % Every == 0) env.Log($"[{Id}] {evt} step={env.Step}");
    }

    public void SetParams(JsonObject parameters)
    {
        JsonValues.RejectUnknownKeys(parameters, ["every"], "");
        if (parameters["every"] is { } e) Every = CallbackParams.Every((int)JsonValues.GetLong(e, "every"));
    }
}
