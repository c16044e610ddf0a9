using System.Text.Json.Nodes;

namespace Kiln.Protocol;

/// <summary>Which recipe entries a patch applies to. Every field given must match; <c>nth</c> picks one match (0-based).</summary>
public sealed record PatchMatch
{
    public string? Module { get; init; }
    public string? Op { get; init; }
    public string? Id { get; init; }
    public string? AtEvent { get; init; }
    public long? AtStep { get; init; }
    public long? StepMin { get; init; }
    public long? StepMax { get; init; }
    public string? HasParam { get; init; }
    public int? Nth { get; init; }

    public bool Matches(RecipeEntry e) =>
        (Module is null || Module == e.Module)
        && (Op is null || Op == e.Op)
        && (Id is null || Id == e.Id)
        && (AtEvent is null || AtEvent == e.Event)
        && (AtStep is null || AtStep == e.Step)
        && (StepMin is null || e.Step >= StepMin)
        && (StepMax is null || e.Step <= StepMax)
        && (HasParam is null || (e.Params?.ContainsKey(HasParam) ?? false));
}

/// <summary><c>scale</c> then <c>add</c>, applied to a numeric parameter that the entry already has.</summary>
public sealed record ParamTransform(double Scale, double Add);

/// <summary>One patch of <c>kiln.adjust.yaml</c>.</summary>
public sealed record AdjustPatch
{
    public PatchMatch? Match { get; init; }
    public bool Drop { get; init; }
    public JsonObject? ReplaceParams { get; init; }
    public IReadOnlyDictionary<string, ParamTransform>? TransformParams { get; init; }
    public long ShiftStep { get; init; }
    public RecipeEntry? Insert { get; init; }
}

/// <summary>The adjust overlay, <c>kiln.adjust.yaml</c> (or JSON): patches applied in order to a recipe before replay.</summary>
public sealed record AdjustSpec(IReadOnlyList<AdjustPatch> Patches)
{
    private static readonly string[] TopFields = ["version", "patches"];
    private static readonly string[] PatchFields = ["match", "drop", "replace_params", "transform_params", "shift_step", "insert"];
    private static readonly string[] MatchFields = ["module", "op", "id", "at_event", "at_step", "step_min", "step_max", "has_param", "nth"];

    public static AdjustSpec FromJson(JsonNode? node)
    {
        var o = JsonValues.GetObject(node, "adjust file");
        JsonValues.RejectUnknownKeys(o, TopFields, "");
        if (o["version"] is { } v && JsonValues.GetLong(v, "version") != 1)
            throw new ProtocolException($"version: only version 1 is known, got {JsonValues.Show(v)}");
        if (o["patches"] is null) return new AdjustSpec([]);
        if (o["patches"] is not JsonArray arr) throw new ProtocolException($"patches: expected a list, got {JsonValues.Show(o["patches"])}");
        var patches = new List<AdjustPatch>(arr.Count);
        for (var i = 0; i < arr.Count; i++) patches.Add(ParsePatch(arr[i], $"patches[{i}]"));
        return new AdjustSpec(patches);
    }

    private static AdjustPatch ParsePatch(JsonNode? node, string where)
    {
        var p = JsonValues.GetObject(node, where);
        JsonValues.RejectUnknownKeys(p, PatchFields, where + ": ");
        RecipeEntry? insert = null;
        if (p["insert"] is { } ins)
        {
            try { insert = RecipeEntry.FromJson(ins); }
            catch (ProtocolException ex) { throw new ProtocolException($"{where}.insert.{ex.Message}"); }
        }
        PatchMatch? match = null;
        if (p["match"] is { } mnode)
        {
            var m = JsonValues.GetObject(mnode, where + ".match");
            JsonValues.RejectUnknownKeys(m, MatchFields, where + ".match: ");
            var k = where + ".match.";
            match = new PatchMatch
            {
                Module = JsonValues.GetOptionalString(m, "module", k),
                Op = JsonValues.GetOptionalString(m, "op", k),
                Id = JsonValues.GetOptionalString(m, "id", k),
                AtEvent = JsonValues.GetOptionalString(m, "at_event", k),
                AtStep = m["at_step"] is null ? null : JsonValues.GetLong(m["at_step"], k + "at_step"),
                StepMin = m["step_min"] is null ? null : JsonValues.GetLong(m["step_min"], k + "step_min"),
                StepMax = m["step_max"] is null ? null : JsonValues.GetLong(m["step_max"], k + "step_max"),
                HasParam = JsonValues.GetOptionalString(m, "has_param", k),
                Nth = m["nth"] is null ? null : checked((int)JsonValues.GetLong(m["nth"], k + "nth")),
            };
            if (match.Nth < 0) throw new ProtocolException($"{k}nth: must be >= 0, got {match.Nth}");
        }
        if (match is null && insert is null)
            throw new ProtocolException($"{where}: a patch needs a match (or an insert)");
        Dictionary<string, ParamTransform>? transforms = null;
        if (p["transform_params"] is { } tnode)
        {
            transforms = [];
            foreach (var (key, spec) in JsonValues.GetObject(tnode, where + ".transform_params"))
            {
                var tk = $"{where}.transform_params.{key}";
                var t = JsonValues.GetObject(spec, tk);
                JsonValues.RejectUnknownKeys(t, ["scale", "add"], tk + ": ");
                transforms[key] = new ParamTransform(
                    t["scale"] is null ? 1.0 : JsonValues.GetDouble(t["scale"], tk + ".scale"),
                    t["add"] is null ? 0.0 : JsonValues.GetDouble(t["add"], tk + ".add"));
            }
        }
        return new AdjustPatch
        {
            Match = match,
            Drop = p["drop"] is not null && JsonValues.GetBool(p["drop"], where + ".drop"),
            ReplaceParams = p["replace_params"] is null ? null : (JsonObject)JsonValues.GetObject(p["replace_params"], where + ".replace_params").DeepClone(),
            TransformParams = transforms,
            ShiftStep = p["shift_step"] is null ? 0 : JsonValues.GetLong(p["shift_step"], where + ".shift_step"),
            Insert = insert,
        };
    }
}
