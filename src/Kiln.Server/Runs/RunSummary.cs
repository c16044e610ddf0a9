using System.Text.Json.Nodes;

namespace Kiln.Server.Runs;

/// <summary>One row of the runs page.</summary>
public sealed record RunSummary(
    string Id, string Dir, string Kind, string? Config, string Status, double? Start, double? End,
    JsonObject? Params, JsonObject? Swept, JsonObject? Metrics, string? Error)
{
    private string? _searchText;

    /// <summary>What the runs page's filter looks in: id, config, status, kind, parameters and swept values.</summary>
    public string SearchText => _searchText ??= string.Join('\n', Id, Config, Status, Kind, Swept?.ToJsonString(), Params?.ToJsonString());

    public JsonObject ToJson() => new()
    {
        ["id"] = Id, ["kind"] = Kind, ["config"] = Config, ["status"] = Status, ["start"] = Start, ["end"] = End,
        ["params"] = Params?.DeepClone(), ["swept"] = Swept?.DeepClone(), ["metrics"] = Metrics?.DeepClone(), ["error"] = Error,
    };

    /// <summary>
    /// The summary as a row of the runs list: past <paramref name="most"/> latest metrics (per-layer statistics), only
    /// <paramref name="sort"/>, the run's default metrics and then the first by name, with <c>metrics_more</c> saying
    /// how many were left out.
    /// </summary>
    public JsonObject ToRow(string sort, int most)
    {
        var row = ToJson();
        if (Metrics is not { } all || all.Count <= most) return row;
        var names = all.Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList();
        var keep = (all.ContainsKey(sort) ? [sort] : Enumerable.Empty<string>())
            .Concat(Kiln.Metrics.DefaultMetrics.Names(names)).Concat(names).Distinct().Take(most).ToHashSet();
        var metrics = new JsonObject();
        foreach (var (name, value) in all) if (keep.Contains(name)) metrics[name] = value?.DeepClone();
        row["metrics"] = metrics;
        row["metrics_more"] = all.Count - metrics.Count;
        return row;
    }
}
