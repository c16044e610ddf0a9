using System.Text.Json.Nodes;

namespace Kiln.Train.Sdk;

/// <summary>One parameter of a module: its name inside the module (<c>weight</c>) and its shape.</summary>
public sealed record ParameterEntry(string Name, IReadOnlyList<int> Shape);

/// <summary>
/// One module of the tree: its dotted path (<c>""</c> for the model itself, <c>trunk.0</c>), its type's name, the
/// structural settings that no parameter shape shows (a convolution's stride), and its own parameters in order.
/// <c>path + "." + name</c> is a parameter's key in the state dict and in <c>weights.safetensors</c>.
/// </summary>
public sealed record ModuleEntry(string Path, string Type, IReadOnlyList<KeyValuePair<string, long>> Attributes, IReadOnlyList<ParameterEntry> Parameters)
{
    public string ParameterKey(string name) => Path.Length == 0 ? name : Path + "." + name;
}

/// <summary>
/// What <see cref="KilnSdk.Model"/> learns about a model: the architecture's fingerprint, a readable summary, the
/// module tree, the parameter count and — when a dummy input was given — the shapes it went in and came out with.
/// </summary>
public sealed record ArchitectureInfo(
    string Fingerprint,
    string Summary,
    IReadOnlyList<ModuleEntry> Modules,
    long ParameterCount,
    IReadOnlyList<int>? InputShape,
    IReadOnlyList<int>? OutputShape)
{
    /// <summary>The content of <c>kiln.model.json</c>.</summary>
    public JsonObject ToJson()
    {
        var modules = new JsonArray();
        foreach (var m in Modules)
        {
            var module = new JsonObject { ["path"] = m.Path, ["type"] = m.Type };
            if (m.Attributes.Count > 0)
            {
                var attributes = new JsonObject();
                foreach (var (name, value) in m.Attributes) attributes[name] = value;
                module["attributes"] = attributes;
            }
            var parameters = new JsonArray();
            foreach (var p in m.Parameters) parameters.Add(new JsonObject { ["name"] = p.Name, ["shape"] = Shape(p.Shape) });
            module["params"] = parameters;
            modules.Add(module);
        }
        return new JsonObject
        {
            ["fingerprint"] = Fingerprint,
            ["summary"] = Summary,
            ["modules"] = modules,
            ["parameters"] = ParameterCount,
            ["input_shape"] = InputShape is null ? null : Shape(InputShape),
            ["output_shape"] = OutputShape is null ? null : Shape(OutputShape),
        };
    }

    private static JsonArray Shape(IReadOnlyList<int> shape)
    {
        var array = new JsonArray();
        foreach (var d in shape) array.Add(d);
        return array;
    }
}
