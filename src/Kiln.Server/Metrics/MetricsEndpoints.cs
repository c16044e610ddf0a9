using System.Text.Json.Nodes;
using Kiln.Server.Hosting;
using Kiln.Server.Runs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Metrics;

/// <summary>Metric series, downsampled on the server, for one run or several runs compared.</summary>
internal static class MetricsEndpoints
{
    /// <remarks>A large metrics file not read yet is answered from its preview (<c>partial: true</c>) while it is read
    /// whole in the background.</remarks>
    public static void Map(IEndpointRouteBuilder app, RunIndex runs, MetricsStore store)
    {
        var group = app.MapGroup("/api");

        // /api/run/metrics?run=<id>&names=a,b&from=<step>&to=<step>&points=1000 (pick=default: the page's default metrics)
        group.MapGet("/run/metrics", (HttpContext context) =>
        {
            if (!Http.TryRun(context, runs, out _, out var dir, out var error)) return error!;
            var names = context.Request.Query["names"].FirstOrDefault()?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var pick = context.Request.Query["pick"].FirstOrDefault();
            if (pick is not (null or "all" or "default")) return Http.Error(StatusCodes.Status400BadRequest, $"pick: give 'default' or 'all', not '{pick}'");
            var points = Http.Int(context, "points", 1000, 2, 20_000);
            var (from, to) = (Http.Long(context, "from"), Http.Long(context, "to"));
            return Results.Json(store.Read(dir, view =>
            {
                var ordered = view.Series.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
                var wanted = names is not { Length: > 0 } && pick == "default" ? [.. DefaultMetrics.Names(ordered.Select(kv => kv.Key))] : names;
                var series = new JsonObject();
                foreach (var (name, s) in ordered)
                {
                    if (wanted is { Length: > 0 } && Array.IndexOf(wanted, name) < 0) continue;
                    series[name] = Json(Downsampler.Sample(s.Steps, s.Values, s.Ordered, from, to, points));
                }
                return new JsonObject { ["series"] = series, ["offset"] = view.Offset, ["lines"] = view.Lines, ["partial"] = view.Partial };
            }));
        });

        // /api/run/metric-names?run=<id>: every metric and how many points it has, and the ones drawn by default.
        group.MapGet("/run/metric-names", (HttpContext context) =>
        {
            if (!Http.TryRun(context, runs, out _, out var dir, out var error)) return error!;
            return Results.Json(store.Read(dir, view =>
            {
                var names = new JsonObject();
                foreach (var (name, s) in view.Series.OrderBy(kv => kv.Key, StringComparer.Ordinal)) names[name] = view.Partial ? null : s.Count;
                var defaults = new JsonArray(DefaultMetrics.Names(names.Select(kv => kv.Key)).Select(n => (JsonNode?)n).ToArray());
                return new JsonObject { ["names"] = names, ["default"] = defaults, ["partial"] = view.Partial };
            }));
        });

        // /api/compare?runs=a,b&metric=val_loss&points=500: one metric of several runs.
        group.MapGet("/compare", (HttpContext context) =>
        {
            var ids = context.Request.Query["runs"].FirstOrDefault()?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
            var metric = context.Request.Query["metric"].FirstOrDefault();
            if (ids.Length == 0 || string.IsNullOrEmpty(metric)) return Http.Error(StatusCodes.Status400BadRequest, "give ?runs=a,b&metric=name");
            if (ids.Length > 50) return Http.Error(StatusCodes.Status400BadRequest, "compare at most 50 runs at once");
            var points = Http.Int(context, "points", 500, 2, 20_000);
            var result = new JsonObject();
            var partial = false;
            foreach (var id in ids)
            {
                if (!runs.TryResolve(id, out var dir)) return Http.Error(StatusCodes.Status404NotFound, $"no run '{id}' is served here");
                // A large run not read yet is drawn from its preview, as on its own page, and the answer says so.
                result[id] = store.Read(dir, view =>
                {
                    partial |= view.Partial;
                    return view.Series.TryGetValue(metric, out var s) ? Json(Downsampler.Sample(s.Steps, s.Values, s.Ordered, null, null, points)) : null;
                });
            }
            return Results.Json(new JsonObject { ["metric"] = metric, ["runs"] = result, ["partial"] = partial });
        });
    }

    internal static JsonObject Json(SampledSeries s) => new()
    {
        ["steps"] = new JsonArray(s.Steps.Select(x => (JsonNode?)x).ToArray()),
        ["last"] = new JsonArray(s.Last.Select(x => (JsonNode?)x).ToArray()),
        ["min"] = new JsonArray(s.Min.Select(x => (JsonNode?)x).ToArray()),
        ["max"] = new JsonArray(s.Max.Select(x => (JsonNode?)x).ToArray()),
        ["points"] = s.SourcePoints,
    };
}
