using Kiln.Metrics;
using Kiln.Server.Hosting;
using Kiln.Server.Runs;
using Microsoft.AspNetCore.Mvc;

namespace Kiln.Server.Metrics;

/// <summary>Metric series, downsampled on the server, for one run or several runs compared.</summary>
internal static class MetricsEndpoints
{
    /// <summary>Runs compared at once at most.</summary>
    private const int MaxCompared = 50;

    /// <remarks>A large metrics file not read yet is answered from its preview (<c>partial: true</c>) while it is read
    /// whole in the background.</remarks>
    public static void Map(IEndpointRouteBuilder app, RunIndex runs, MetricsStore store)
    {
        var group = app.MapGroup("/api");

        // /api/run/metrics?run=<id>&names=a,b&from=<step>&to=<step>&points=1000 (pick=default: the page's default metrics)
        group.MapGet("/run/metrics", Results<Ok<MetricsAnswer>, JsonHttpResult<ApiError>, BadRequest<ApiError>> (
            string? run, string? names, string? pick, QueryNumber? from, QueryNumber? to, QueryNumber? points) =>
        {
            if (!runs.TryRun(run, out var dir, out var refused)) return refused;
            if (pick is not (null or "all" or "default")) return TypedResults.BadRequest(new ApiError($"pick: give 'default' or 'all', not '{pick}'"));
            var named = List(names);
            var buckets = QueryNumber.Clamp(points, 1000, 2, 20_000);
            return TypedResults.Ok(store.Read(dir, view =>
            {
                var wanted = named.Length == 0 && pick == "default" ? [.. DefaultMetrics.Names(view.Series.Keys.Order(StringComparer.Ordinal))] : named;
                var series = new SortedDictionary<string, SampledSeries>(StringComparer.Ordinal);
                foreach (var (name, s) in view.Series)
                {
                    if (wanted.Length > 0 && Array.IndexOf(wanted, name) < 0) continue;
                    series[name] = Sample(s, from?.Value, to?.Value, buckets);
                }
                return new MetricsAnswer(series, view.Offset, view.Lines, view.Partial);
            }));
        });

        // /api/run/metric-names?run=<id>: every metric and how many points it has, and the ones drawn by default.
        group.MapGet("/run/metric-names", Results<Ok<MetricNamesAnswer>, JsonHttpResult<ApiError>> (string? run) =>
        {
            if (!runs.TryRun(run, out var dir, out var refused)) return refused;
            return TypedResults.Ok(store.Read(dir, view =>
            {
                var names = new SortedDictionary<string, int?>(StringComparer.Ordinal);
                foreach (var (name, s) in view.Series) names[name] = view.Partial ? null : s.Count;
                return new MetricNamesAnswer(names, DefaultMetrics.Names(names.Keys), view.Partial);
            }));
        });

        // /api/compare?runs=a,b&metric=val_loss&points=500: one metric of several runs.
        group.MapGet("/compare", Results<Ok<CompareAnswer>, JsonHttpResult<ApiError>, BadRequest<ApiError>> (
            [FromQuery(Name = "runs")] string? ids, string? metric, QueryNumber? points) =>
        {
            var compared = List(ids);
            if (compared.Length == 0 || string.IsNullOrEmpty(metric)) return TypedResults.BadRequest(new ApiError("give ?runs=a,b&metric=name"));
            if (compared.Length > MaxCompared) return TypedResults.BadRequest(new ApiError($"compare at most {MaxCompared} runs at once"));
            var buckets = QueryNumber.Clamp(points, 500, 2, 20_000);
            var result = new Dictionary<string, SampledSeries?>(StringComparer.Ordinal);
            var partial = false;
            foreach (var id in compared)
            {
                if (!runs.TryRun(id, out var dir, out var refused)) return refused;
                // A large run not read yet is drawn from its preview, as on its own page, and the answer says so.
                result[id] = store.Read(dir, view =>
                {
                    partial |= view.Partial;
                    return view.Series.TryGetValue(metric, out var s) ? Sample(s, null, null, buckets) : null;
                });
            }
            return TypedResults.Ok(new CompareAnswer(metric, result, partial));
        });
    }

    private static string[] List(string? names) => names?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];

    private static SampledSeries Sample(MetricSeries s, long? from, long? to, int buckets) => Downsampler.Sample(s.Steps, s.Values, s.Ordered, from, to, buckets);
}
