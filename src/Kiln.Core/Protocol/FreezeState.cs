using System.Text.Json.Nodes;

namespace Kiln.Protocol;

/// <summary>The run's freeze state, <c>kiln.freeze.json</c>.</summary>
public sealed record FreezeState
{
    public const string Off = "off";
    public const string Prod = "prod";
    public const string Replay = "replay";
    public const string ReplayAdjusted = "replay_adjusted";
    public const string BestEffort = "best_effort";
    public const string Strict = "strict";

    public static readonly string[] Modes = [Off, Prod, Replay, ReplayAdjusted];
    public static readonly string[] Policies = [BestEffort, Strict];
    private static readonly string[] Fields = ["mode", "recipe_path", "adjust_path", "policy", "step_offset", "after"];

    public static readonly FreezeState Unfrozen = new();

    public string Mode { get; init; } = Off;
    public string? RecipePath { get; init; }
    public string? AdjustPath { get; init; }
    public string Policy { get; init; } = BestEffort;
    public long StepOffset { get; init; }

    /// <summary>
    /// The replay modes' sequel: <c>off</c> lifts the freeze once every recipe entry has fired or been missed (a restarted
    /// trial catches up with its earlier attempt, then is steerable again); null stays in the replay mode.
    /// </summary>
    public string? After { get; init; }

    public bool IsReplay => Mode is Replay or ReplayAdjusted;
    public bool IsFrozen => Mode != Off;

    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["mode"] = Mode,
            ["recipe_path"] = RecipePath,
            ["adjust_path"] = AdjustPath,
            ["policy"] = Policy,
            ["step_offset"] = StepOffset,
        };
        if (After is not null) o["after"] = After;
        return o;
    }

    /// <summary>Reads and checks a freeze state; replay modes need a recipe, <c>replay_adjusted</c> an adjust file.</summary>
    public static FreezeState FromJson(JsonNode? node)
    {
        var o = JsonValues.GetObject(node, "freeze state");
        JsonValues.RejectUnknownKeys(o, Fields, "");
        var mode = o["mode"] is null ? throw new ProtocolException("mode: missing") : JsonValues.GetString(o["mode"], "mode");
        if (Array.IndexOf(Modes, mode) < 0)
            throw new ProtocolException($"mode: unknown mode \"{mode}\" (known: {string.Join(", ", Modes)})");
        var policy = JsonValues.GetOptionalString(o, "policy") ?? BestEffort;
        if (Array.IndexOf(Policies, policy) < 0)
            throw new ProtocolException($"policy: unknown policy \"{policy}\" (known: {string.Join(", ", Policies)})");
        var state = new FreezeState
        {
            Mode = mode,
            RecipePath = JsonValues.GetOptionalString(o, "recipe_path"),
            AdjustPath = JsonValues.GetOptionalString(o, "adjust_path"),
            Policy = policy,
            StepOffset = o["step_offset"] is null ? 0 : JsonValues.GetLong(o["step_offset"], "step_offset"),
            After = JsonValues.GetOptionalString(o, "after"),
        };
        state.Validate();
        return state;
    }

    public void Validate()
    {
        if (Array.IndexOf(Modes, Mode) < 0)
            throw new ProtocolException($"mode: unknown mode \"{Mode}\" (known: {string.Join(", ", Modes)})");
        if (Array.IndexOf(Policies, Policy) < 0)
            throw new ProtocolException($"policy: unknown policy \"{Policy}\" (known: {string.Join(", ", Policies)})");
        if (IsReplay && string.IsNullOrEmpty(RecipePath))
            throw new ProtocolException($"recipe_path: mode {Mode} needs a recipe");
        if (Mode == ReplayAdjusted && string.IsNullOrEmpty(AdjustPath))
            throw new ProtocolException("adjust_path: mode replay_adjusted needs an adjust file");
        if (After is not null && (After != Off || !IsReplay))
            throw new ProtocolException($"after: only \"off\", after a replay mode, is allowed (got \"{After}\" with mode {Mode})");
    }
}
