using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Train.Sdk;

/// <summary>
/// A JSON object in the run directory that calls add keys to — <c>kiln.params.json</c> (the hyper-parameters) and
/// <c>kiln.result.json</c> (a trial's result). Each call merges its keys into what the file holds and rewrites it
/// whole (write and rename), so a reader sees the state after some call, never half of one. In a queue run the
/// injected values (<see cref="Inject"/>) win over values the program gives for the same keys.
/// </summary>
internal sealed class ParamsFile(string path, string what, TextWriter log)
{
    private readonly Lock _gate = new();
    private JsonObject? _values;
    private JsonObject? _injected;

    public string Path { get; } = path;

    /// <summary>Merges <paramref name="values"/> (already checked) and writes the file.</summary>
    public void Merge(JsonObject values)
    {
        lock (_gate)
        {
            var merged = Load();
            foreach (var (key, value) in values)
            {
                if (_injected is not null && _injected.TryGetPropertyValue(key, out var injected))
                {
                    if (!ParamValues.Same(value, injected))
                        log.WriteLine($"kiln: {what} '{key}' = {JsonValues.Show(value)} differs from the queued value {JsonValues.Show(injected)}; the queued value is recorded (read it with KilnSdk.Queue)");
                    continue;
                }
                merged[key] = value?.DeepClone();
            }
            Write(merged);
        }
    }

    /// <summary>Records a queue run's injected values, which later merges cannot override.</summary>
    public void Inject(JsonObject injected)
    {
        lock (_gate)
        {
            if (_injected is not null) return;
            _injected = (JsonObject)injected.DeepClone();
            var merged = Load();
            foreach (var (key, value) in _injected) merged[key] = value?.DeepClone();
            Write(merged);
        }
    }

    private JsonObject Load()
    {
        if (_values is not null) return _values;
        // Merged into, not replaced: a parent may have written the file first.
        if (!File.Exists(Path)) return _values = [];
        var node = JsonValues.ParseDocument(File.ReadAllBytes(Path), Path);
        return _values = node as JsonObject ?? throw new ProtocolException($"{Path}: expected a JSON object, got {JsonValues.Show(node)}");
    }

    private void Write(JsonObject merged) => AtomicFile.WriteJson(Path, merged);
}
