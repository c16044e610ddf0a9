using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Kernel;

/// <summary>
/// <c>kiln.actuators.json</c>: every module's dials with their current values, and the freeze state, written whole —
/// when a dial is changed, and when values drift on their own (a learning-rate schedule), at most every
/// <see cref="DriftInterval"/>, so a dashboard never shows a value the run left behind.
/// </summary>
internal sealed class ActuatorsFile(RunFiles files, ModuleTable modules, TimeProvider time, Action<string> warn)
{
    /// <summary>How often the dials are looked at for values that moved without a command.</summary>
    public static readonly TimeSpan DriftInterval = TimeSpan.FromSeconds(1);

    private string? _written;
    private long _nextDriftCheck;

    /// <summary>Writes the dials as they stand at <paramref name="step"/>.</summary>
    public void Write(FreezeState freeze, long? step)
    {
        var list = Dials(step);
        Write(freeze, step, list, list.ToJsonString());
    }

    /// <summary>Rewrites the file when, a <see cref="DriftInterval"/> after the last look, some value is not what it says.</summary>
    public void WriteIfDrifted(FreezeState freeze, long? step)
    {
        if (time.GetTimestamp() < _nextDriftCheck) return;
        var list = Dials(step);
        var text = list.ToJsonString();
        if (text != _written) Write(freeze, step, list, text);
        else _nextDriftCheck = NextCheck();
    }

    private JsonArray Dials(long? step)
    {
        var list = new JsonArray();
        foreach (var d in modules.Describe(step ?? 0)) list.Add(d.ToJson());
        return list;
    }

    private long NextCheck() => time.GetTimestamp() + (long)(DriftInterval.TotalSeconds * time.TimestampFrequency);

    private void Write(FreezeState freeze, long? step, JsonArray list, string text)
    {
        _nextDriftCheck = NextCheck();
        _written = text;
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
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            warn($"{RunFiles.Actuators}: {ex.Message}");
        }
    }
}
