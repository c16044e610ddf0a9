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
    public static void Map(IEndpointRouteBuilder app, RunIndex runs, MetricsStore store)
    {
        var group = app.MapGroup("/api");

        // /api/run/metrics?run=<id>&names=a,b&from=<step>&to=<step>&points=1000
        group.MapGet("/run/metrics", (HttpContext context) =>
        {
            if (!Http.TryRun(context, runs, out _, out var dir, out var error)) return error!;
            var names = context.Request.Query["names"].FirstOrDefault()?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var points = Http.Int(context, "points", 1000, 2, 20_000);
            var (from, to) = (Http.Long(context, "from"), Http.Long(context, "to"));
            var metrics = store.Get(dir);
            lock (metrics)
            {
                var series = new JsonObject();
                foreach (var (name, s) in metrics.Series.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    if (names is { Length: > 0 } && Array.IndexOf(names, name) < 0) continue;
                    series[name] = Json(Downsampler.Sample(s.Steps, s.Values, s.Ordered, from, to, points));
                }
                return Results.Json(new JsonObject { ["offset"] = metrics.Offset, ["lines"] = metrics.Lines, ["series"] = series });
            }
        });

        // /api/run/metric-names?run=<id>: every metric and how many points it has.
        group.MapGet("/run/metric-names", (HttpContext context) =>
        {
            if (!Http.TryRun(context, runs, out _, out var dir, out var error)) return error!;
            var metrics = store.Get(dir);
            lock (metrics)
            {
                var names = new JsonObject();
                foreach (var (name, s) in metrics.Series.OrderBy(kv => kv.Key, StringComparer.Ordinal)) names[name] = s.Count;
                return Results.Json(new JsonObject { ["names"] = names });
            }
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
            foreach (var id in ids)
            {
                if (!runs.TryResolve(id, out var dir)) return Http.Error(StatusCodes.Status404NotFound, $"no run '{id}' is served here");
                var metrics = store.Get(dir);
                lock (metrics)
                {
                    result[id] = metrics.Series.TryGetValue(metric, out var s) ? Json(Downsampler.Sample(s.Steps, s.Values, s.Ordered, null, null, points)) : null;
                }
            }
            return Results.Json(new JsonObject { ["metric"] = metric, ["runs"] = result });
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
