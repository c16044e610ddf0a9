using System.Text.Json.Nodes;

namespace Kiln.Protocol;

/// <summary>
/// What an inbox command and a recipe entry share: the module, op and handle a change is for, and its arguments.
/// <see cref="Command"/> adds who sent it; <see cref="RecipeEntry"/> adds the moment it happened.
/// </summary>
public abstract record Change
{
    public required string Module { get; init; }
    public required string Op { get; init; }
    public string? Id { get; init; }
    public JsonObject? Params { get; init; }
    /// <summary>What <c>cb load</c> loads.</summary>
    public CallbackTarget? Target { get; init; }
    /// <summary>Constructor arguments of <c>cb load</c>.</summary>
    public JsonObject? Init { get; init; }
    /// <summary>Whether <c>cb load</c> starts enabled.</summary>
    public bool? Enabled { get; init; }
    /// <summary>Set on replayed loads: the captured copy of the source file to load instead of the original.</summary>
    public SourceCapture? SourceCapture { get; init; }
    /// <summary>How long each call into the callback <c>cb load</c> loads may take, in seconds (default: the kernel's).</summary>
    public double? TimeBudgetS { get; init; }

    /// <summary>This change with its arguments read from <paramref name="o"/>, each checked for its type.</summary>
    private protected Change WithArgumentsFrom(JsonObject o) => this with
    {
        Id = JsonValues.GetOptionalString(o, "id"),
        Params = ObjectOrNull(o, "params"),
        Target = o["target"] is null ? null : CallbackTarget.FromJson(o["target"], "target"),
        Init = ObjectOrNull(o, "init"),
        Enabled = o["enabled"] is null ? null : JsonValues.GetBool(o["enabled"], "enabled"),
        SourceCapture = o["source_capture"] is null ? null : SourceCapture.FromJson(o["source_capture"], "source_capture"),
        TimeBudgetS = o["time_budget_s"] is null ? null : JsonValues.GetDouble(o["time_budget_s"], "time_budget_s"),
    };

    /// <summary>Writes the arguments a change has (<c>params</c>, <c>target</c>, <c>init</c>, <c>enabled</c>, <c>time_budget_s</c>).</summary>
    private protected void WriteArguments(JsonObject o)
    {
        if (Params is not null) o["params"] = Params.DeepClone();
        if (Target is not null) o["target"] = Target.ToJson();
        if (Init is not null) o["init"] = Init.DeepClone();
        if (Enabled is not null) o["enabled"] = Enabled;
        if (TimeBudgetS is not null) o["time_budget_s"] = TimeBudgetS;
    }

    private static JsonObject? ObjectOrNull(JsonObject o, string key) =>
        o[key] is null ? null : (JsonObject)JsonValues.GetObject(o[key], key).DeepClone();
}
