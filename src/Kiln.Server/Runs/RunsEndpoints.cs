using System.Globalization;
using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Kernel;
using Kiln.Metrics.Epochs;
using Kiln.Protocol;
using Kiln.Server.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Runs;

/// <summary>The runs list, one run's state, its ledger, and its epoch log.</summary>
internal static class RunsEndpoints
{
    /// <summary>How many latest metrics a row of the runs list carries at most.</summary>
    internal const int RowMetrics = 12;

    public static void Map(IEndpointRouteBuilder app, RunIndex runs, SlurmStates slurm)
    {
        var group = app.MapGroup("/api");

        // /api/runs?filter=text&sort=start&order=desc&page=0&size=50
        group.MapGet("/runs", Ok<RunsPage> (string? filter, string? sort, string? order, QueryNumber? page, QueryNumber? size) =>
        {
            filter = filter?.Trim() ?? "";
            sort ??= "start";
            var rows = QueryNumber.Clamp(size, 50, 1, 500);
            var at = QueryNumber.Clamp(page, 0, 0, int.MaxValue);
            IEnumerable<RunSummary> all = runs.All();
            if (filter.Length > 0) all = all.Where(r => Matches(r, filter));
            var list = all.ToList();
            var ordered = Sort(list, sort, descending: order != "asc").Skip((int)Math.Min(int.MaxValue, (long)at * rows)).Take(rows);
            // One look at the cached Slurm states for the whole page (a poll of the cluster only when one is due).
            var onSlurm = slurm.Current();
            return TypedResults.Ok(new RunsPage(runs.Root, list.Count, at, rows,
                new JsonArray(ordered.Select(r => (JsonNode?)WithSlurm(r.ToRow(sort, RowMetrics), r, onSlurm)).ToArray()), onSlurm.Problem));
        });

        // /api/run?run=<id>: the run's summary, dials and freeze state.
        group.MapGet("/run", Results<Ok<JsonObject>, JsonHttpResult<ApiError>> (string? run) =>
        {
            if (!runs.TryRun(run, out var dir, out var refused)) return refused;
            var files = new RunFiles(dir);
            var summary = runs.Get(run!)!;
            return TypedResults.Ok(new JsonObject
            {
                ["run"] = WithSlurm(summary.ToJson(), summary, slurm.Current()),
                ["actuators"] = ReadJson(files.ActuatorsPath),
                ["freeze"] = ReadJson(files.FreezePath) ?? FreezeState.Unfrozen.ToJson(),
                ["has_epochs"] = File.Exists(Path.Combine(dir, RunFiles.BatchLog)),
            });
        });

        // /api/run/ledger?run=<id>&after=<seq>&limit=500
        group.MapGet("/run/ledger", Results<Ok<LedgerPage>, JsonHttpResult<ApiError>> (string? run, QueryNumber? after, QueryNumber? limit) =>
        {
            if (!runs.TryRun(run, out var dir, out var refused)) return refused;
            var most = QueryNumber.Clamp(limit, 1000, 1, 10_000);
            // Read through a tail so the offset is the end of the last complete line: the event stream continues
            // exactly there, and a line being written is neither lost nor sent twice.
            var tail = new JsonlTail(new RunFiles(dir).LedgerPath);
            var lines = new List<JsonlLine>();
            var entries = new JsonArray();
            while (tail.Poll(lines) > 0)
            {
                foreach (var line in lines)
                {
                    if (line.Oversized || entries.Count >= most) continue;
                    try
                    {
                        var entry = LedgerEntry.FromJson(JsonValues.ParseDocument(line.Bytes.Span, "line"));
                        if (entry.Seq > (after?.Value ?? 0)) entries.Add(LedgerJson(entry));
                    }
                    catch (ProtocolException)
                    {
                        // An unreadable line is reported by `kiln status`; the table shows the rest.
                    }
                }
            }
            return TypedResults.Ok(new LedgerPage(tail.Offset, entries));
        });

        // /api/run/epochs?run=<id>: the trial's epoch_log.csv, refreshed when batch_log.csv is newer.
        group.MapGet("/run/epochs", Results<Ok<JsonObject>, JsonHttpResult<ApiError>, NotFound<ApiError>, UnprocessableEntity<ApiError>> (string? run) =>
        {
            if (!runs.TryRun(run, out var dir, out var refused)) return refused;
            if (!File.Exists(Path.Combine(dir, RunFiles.BatchLog)))
                return TypedResults.NotFound(new ApiError("this run has no batch_log.csv (it is not a finished trial)"));
            try
            {
                return TypedResults.Ok(EpochJson(EpochLog.Ensure(dir)));
            }
            catch (ProtocolException ex)
            {
                return TypedResults.UnprocessableEntity(new ApiError(ex.Message));
            }
        });
    }

    /// <summary>The run's Slurm task as <c>slurm: {id, state, requeued, requeues, exit_code}</c>, when a submission names its directory.</summary>
    private static JsonObject WithSlurm(JsonObject row, RunSummary run, SlurmStates.View onSlurm)
    {
        if (onSlurm.ByDir.TryGetValue(run.Dir, out var task)) row["slurm"] = Kiln.Execution.Slurm.SlurmTaskState.Json(task.Id, task.State);
        return row;
    }

    private static bool Matches(RunSummary r, string filter) => r.SearchText.Contains(filter, StringComparison.OrdinalIgnoreCase);

    private static IEnumerable<RunSummary> Sort(List<RunSummary> list, string sort, bool descending)
    {
        Func<RunSummary, IComparable?> key = sort switch
        {
            "id" => r => r.Id,
            "status" => r => r.Status,
            "config" => r => r.Config,
            "kind" => r => r.Kind,
            "end" => r => r.End,
            "start" => r => r.Start,
            _ => r => r.Metrics?[sort] is JsonValue v && v.TryGetValue(out double d) ? d : (double?)null,
        };
        // Runs without the key sort last either way.
        var with = list.Where(r => key(r) is not null);
        var without = list.Where(r => key(r) is null).OrderBy(r => r.Id, StringComparer.Ordinal);
        var sorted = descending ? with.OrderByDescending(key).ThenBy(r => r.Id, StringComparer.Ordinal) : with.OrderBy(key).ThenBy(r => r.Id, StringComparer.Ordinal);
        return sorted.Concat(without);
    }

    internal static JsonNode? ReadJson(string path)
    {
        try { return File.Exists(path) ? JsonNode.Parse(File.ReadAllText(path)) : null; }
        catch (System.Text.Json.JsonException) { return null; }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return null; }
    }

    internal static JsonObject LedgerJson(LedgerEntry e) =>
        (JsonObject)JsonNode.Parse(e.ToJsonLine())!;

    internal static JsonObject EpochJson(EpochTable table) => new()
    {
        ["columns"] = new JsonArray(table.Columns.Select(c => (JsonNode?)c).ToArray()),
        ["rows"] = new JsonArray(table.Rows.Select(r =>
        {
            var values = new JsonObject();
            for (var i = 0; i < r.Values.Length; i++) values[table.Columns[i]] = r.Values[i];
            return (JsonNode?)new JsonObject { ["epoch"] = r.Epoch, ["mode"] = r.Mode, ["values"] = values, ["n_batches"] = r.Batches };
        }).ToArray()),
        ["torn_tail"] = table.TornTail,
    };

    internal static string Text(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}
