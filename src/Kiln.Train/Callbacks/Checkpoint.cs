using System.Globalization;
using System.Text.Json.Nodes;
using Kiln.Kernel;
using Kiln.Modules.Callbacks;
using Kiln.Protocol;
using Kiln.Train.Nn;
using Kiln.Train.Serialization;
using Kiln.Modules;

namespace Kiln.Callbacks;

/// <summary>
/// Saves the model's weights (safetensors) every <c>every</c> steps as <c>&lt;dir&gt;/step_00000500.safetensors</c>
/// in the run directory, keeping the last <c>keep</c> files.
/// </summary>
public sealed class Checkpoint(string id, int every = 500, int keep = 3, string dir = "checkpoints") : IKilnCallback
{
    public string Id { get; } = id;
    public int Every { get; private set; } = CallbackParams.Every(every);
    public int Keep { get; private set; } = CheckKeep(keep);
    public string Dir { get; private set; } = CheckDir(dir);

    private static int CheckKeep(int keep) => keep >= 1 ? keep : throw new ProtocolException($"keep: must be >= 1, got {keep}");

    private static string CheckDir(string dir) =>
        dir.Length > 0 && !Path.IsPathRooted(dir) && !dir.Split('/', '\\').Contains("..")
            ? dir : throw new ProtocolException($"dir: must be a folder inside the run, got \"{dir}\"");

    public void Handle(string evt, KernelEnv env)
    {
        if (evt != "train_step_end" || env.Step == 0 || env.Step % Every != 0 || env.Model is not Module model || env.RunDir is null) return;
        var folder = Path.Combine(env.RunDir, Dir);
        Directory.CreateDirectory(folder);
        var name = string.Create(CultureInfo.InvariantCulture, $"step_{env.Step:D8}.safetensors");
        Safetensors.Save(Path.Combine(folder, name), model.StateDict(), new Dictionary<string, string>
        {
            ["step"] = env.Step.ToString(CultureInfo.InvariantCulture),
            ["epoch"] = env.Epoch?.ToString(CultureInfo.InvariantCulture) ?? "",
        });
        foreach (var old in Directory.GetFiles(folder, "step_*.safetensors").Order(StringComparer.Ordinal).SkipLast(Keep)) File.Delete(old);
        env.Log($"[{Id}] saved {Path.Combine(Dir, name)}");
    }

    public void SetParams(JsonObject parameters)
    {
        JsonValues.RejectUnknownKeys(parameters, ["every", "keep", "dir"], "");
        if (parameters["every"] is { } e) Every = CallbackParams.Every((int)JsonValues.GetLong(e, "every"));
        if (parameters["keep"] is { } k) Keep = CheckKeep((int)JsonValues.GetLong(k, "keep"));
        if (parameters["dir"] is { } d) Dir = CheckDir(JsonValues.GetString(d, "dir"));
    }
}
