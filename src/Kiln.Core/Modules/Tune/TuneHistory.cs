using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.Modules.Tune;

/// <summary>One mutation <c>tune</c> tried, as the ledger tells it: what it changed, where it started and how it ended.</summary>
public sealed record TuneSegment(long Segment, long Step, string Key, double Factor, JsonNode? From, JsonNode? To, double? Pre, string? Source)
{
    public long? VerdictStep { get; init; }
    public string? Decision { get; init; }
    public double? Post { get; init; }
    public double? Score { get; init; }
    public string? Reason { get; init; }

    public JsonObject ToJson() => new()
    {
        ["segment"] = Segment, ["step"] = Step, ["key"] = Key, ["factor"] = Factor, ["from"] = From?.DeepClone(), ["to"] = To?.DeepClone(),
        ["pre"] = Pre, ["verdict_step"] = VerdictStep, ["decision"] = Decision, ["post"] = Post, ["score"] = Score, ["reason"] = Reason, ["source"] = Source,
    };
}

/// <summary>
/// A run's tuning read back from its ledger (the source of truth; <c>kiln.tune.json</c> adds the settings): the segments
/// in order, with counts. <c>kiln tune status</c>, <c>kiln tune export-recipe</c> and the dashboard's tune panel read it.
/// </summary>
public sealed record TuneHistory(IReadOnlyList<TuneSegment> Segments, int Suggested, JsonObject? State)
{
    public int Accepted => Segments.Count(s => s.Decision == TuneModule.Accepted);
    public int RolledBack => Segments.Count(s => s.Decision == TuneModule.RolledBack);

    /// <summary>Accepted over judged, or null before the first verdict.</summary>
    public double? AcceptRate => Accepted + RolledBack == 0 ? null : (double)Accepted / (Accepted + RolledBack);

    public string Mode => State?["settings"]?["mode"]?.GetValue<string>() ?? TuneSettings.Off;

    public static TuneHistory Read(RunFiles files)
    {
        var segments = new List<TuneSegment>();
        var suggested = 0;
        var entries = File.Exists(files.LedgerPath) ? Kernel.Ledger.ReadAll(files.LedgerPath) : [];
        foreach (var e in entries)
        {
            if (e.Module != TuneModule.ModuleName || e.Payload is not { } p || e.Source == Sources.Resume) continue;
            if (e.Op == "suggest") suggested++;
            if (e.Decision != Decision.Applied) continue;
            if (e.Op == "mutate")
            {
                segments.Add(new TuneSegment(Long(p["segment"]), e.Step ?? 0, p["key"]?.GetValue<string>() ?? "?", Double(p["factor"]) ?? double.NaN,
                    p["from"], p["to"], Double(p["pre"]), e.Source));
            }
            else if (e.Op == "verdict")
            {
                var id = Long(p["segment"]);
                var i = segments.FindLastIndex(s => s.Segment == id);
                if (i < 0) continue;
                segments[i] = segments[i] with
                {
                    VerdictStep = e.Step, Decision = p["decision"]?.GetValue<string>(), Post = Double(p["post"]), Score = Double(p["score"]),
                    Reason = p["reason"]?.GetValue<string>(),
                };
            }
        }
        JsonObject? state = null;
        if (File.Exists(files.TunePath))
        {
            try { state = JsonNode.Parse(File.ReadAllText(files.TunePath)) as JsonObject; }
            catch (System.Text.Json.JsonException) { state = null; }
        }
        return new TuneHistory(segments, suggested, state);
    }

    /// <summary>What <c>kiln tune export-recipe</c> writes: the settings the run ended with, the counts, and every segment.</summary>
    public JsonObject ToJson() => new()
    {
        ["settings"] = State?["settings"]?.DeepClone(),
        ["mutations"] = Segments.Count,
        ["accepted"] = Accepted,
        ["rolled_back"] = RolledBack,
        ["suggested"] = Suggested,
        ["accept_rate"] = AcceptRate,
        ["by_key"] = new JsonObject(Segments.GroupBy(s => s.Key).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => KeyValuePair.Create(g.Key, (JsonNode?)new JsonObject
        {
            ["mutations"] = g.Count(),
            ["accepted"] = g.Count(s => s.Decision == TuneModule.Accepted),
            ["accepted_factors"] = new JsonArray([.. g.Where(s => s.Decision == TuneModule.Accepted).Select(s => (JsonNode)s.Factor)]),
        }))),
        ["segments"] = new JsonArray([.. Segments.Select(s => (JsonNode)s.ToJson())]),
    };

    private static long Long(JsonNode? n) => JsonValues.TryGetLong(n, out var v) ? v : -1;

    private static double? Double(JsonNode? n) => JsonValues.TryGetDouble(n, out var v) ? v : null;
}
