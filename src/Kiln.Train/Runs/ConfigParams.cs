using System.Text.Json;
using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Train.Runs;

/// <summary>
/// A built-in run's hyper-parameters: its defaults, overridden by <c>kiln launch --param key=value</c>. Unknown keys and
/// wrong types are errors that list what the config takes. The values in force are recorded in <c>kiln.run.json</c>.
/// </summary>
public sealed class ConfigParams
{
    private readonly JsonObject _values;

    public ConfigParams(string config, JsonObject defaults, JsonObject? overrides, JsonObject record)
    {
        _values = (JsonObject)defaults.DeepClone();
        foreach (var (key, value) in overrides ?? [])
        {
            if (!defaults.TryGetPropertyValue(key, out var d))
                throw new ProtocolException($"--param {key}: the {config} config has no such parameter (known: {string.Join(", ", defaults.Select(kv => kv.Key))})");
            if (Kind(d) != Kind(value))
                throw new ProtocolException($"--param {key}: expected a value like {JsonValues.Show(d)}, got {JsonValues.Show(value)}");
            _values[key] = value?.DeepClone();
        }
        foreach (var (k, v) in _values) record[k] = v?.DeepClone();
    }

    private static string Kind(JsonNode? node) => node?.GetValueKind() switch
    {
        JsonValueKind.True or JsonValueKind.False => "bool",
        JsonValueKind.Number => "number",
        JsonValueKind kind => kind.ToString(),
        null => "null",
    };

    public int Int(string key) => checked((int)JsonValues.GetLong(_values[key], "--param " + key));
    public double Double(string key) => JsonValues.GetDouble(_values[key], "--param " + key);
    public bool Bool(string key) => JsonValues.GetBool(_values[key], "--param " + key);
    public string String(string key) => JsonValues.GetString(_values[key], "--param " + key);
}
