using System.Text.Json.Nodes;

namespace Kiln.Protocol;

/// <summary>
/// One dial of <c>kiln.actuators.json</c>: the dashboard builds a control from it and writes
/// <c>{module, op: set_params, id, params: {key: value}}</c> to change it.
/// </summary>
public sealed record ActuatorState
{
    /// <summary>Kinds of dial, so a front end picks the right control.</summary>
    public const string LogFloat = "log_float";
    public const string Float = "float";
    public const string Bool = "bool";
    public const string Pair = "pair";
    public const string Ramp = "ramp";
    public const string Callback = "callback";

    public required string Module { get; init; }
    public required string Id { get; init; }
    public required string Key { get; init; }
    public required string Type { get; init; }
    public string? Group { get; init; }
    public double? Min { get; init; }
    public double? Max { get; init; }
    public JsonNode? Value { get; init; }
    public bool Enabled { get; init; } = true;
    /// <summary>Extra description (a callback's target and parameters).</summary>
    public JsonObject? Info { get; init; }

    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["module"] = Module,
            ["id"] = Id,
            ["key"] = Key,
            ["type"] = Type,
        };
        if (Group is not null) o["group"] = Group;
        if (Min is not null) o["min"] = Min;
        if (Max is not null) o["max"] = Max;
        o["value"] = Value?.DeepClone();
        o["enabled"] = Enabled;
        if (Info is not null) o["info"] = Info.DeepClone();
        return o;
    }
}
