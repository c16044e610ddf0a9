using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Kernel;

/// <summary><c>kiln.actuators.json</c>: every module's dials with their current values, and the freeze state, written whole.</summary>
internal static class ActuatorsFile
{
    public static void Write(RunFiles files, ModuleTable modules, FreezeState freeze, long? step, TimeProvider time, Action<string> warn)
    {
        var list = new JsonArray();
        foreach (var d in modules.Describe(step ?? 0)) list.Add(d.ToJson());
        var doc = new JsonObject
        {
            ["step"] = step,
            ["wall_time"] = time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0,
            ["freeze"] = freeze.ToJson(),
            ["actuators"] = list,
        };
        try
        {
            AtomicFile.WriteJson(files.ActuatorsPath, doc, durable: false);
        }
        catch (IOException ex)
        {
            warn($"{RunFiles.Actuators}: {ex.Message}");
        }
    }
}
