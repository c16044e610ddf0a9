using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Protocol;
using Kiln.Server.Hosting;
using Kiln.Server.Runs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Kiln.Server.Live;

/// <summary>
/// Server-Sent Events for one run: <c>metrics</c> (new metric lines), <c>ledger</c> (new decisions), <c>actuators</c>
/// (the dials changed) and <c>status</c> (<c>kiln.run.json</c> changed). Each event's id is the position reached,
/// <c>m:&lt;metrics offset&gt;;l:&lt;ledger offset&gt;</c>, so a reconnecting client (which sends it back as
/// <c>Last-Event-ID</c>) misses nothing and sees nothing twice; a first connection starts where the REST answers
/// it loaded ended (<c>?from=m:…;l:…</c>), or at the ends of the files.
/// </summary>
internal static class EventsEndpoint
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(15);
    private const int MaxLinesPerEvent = 5000;
    private const int LivenessTicks = 10;

    public static void Map(IEndpointRouteBuilder app, RunIndex runs)
    {
        app.MapGet("/api/run/events", async (HttpContext context) =>
        {
            if (!Http.TryRun(context, runs, out var runId, out var dir, out var error))
            {
                await error!.ExecuteAsync(context);
                return;
            }
            var files = new RunFiles(dir);
            var position = context.Request.Headers["Last-Event-ID"].FirstOrDefault() ?? context.Request.Query["from"].FirstOrDefault();
            var (m, l) = Parse(position, files);
            var metrics = new JsonlTail(files.MetricsPath, startOffset: m);
            var ledger = new JsonlTail(files.LedgerPath, startOffset: l);
            var actuators = FileStamp.Of(files.ActuatorsPath);
            var status = FileStamp.Of(files.RunPath);
            var lines = new List<JsonlLine>();
            var response = context.Response;
            response.Headers.ContentType = "text/event-stream";
            response.Headers.CacheControl = "no-cache";
            response.Headers["X-Accel-Buffering"] = "no";
            var aborted = context.RequestAborted;
            var lastSent = DateTime.UtcNow;
            var interrupted = false;
            var ticks = 0;
            await response.WriteAsync("retry: 1000\n\n", aborted);
            await response.Body.FlushAsync(aborted);
            try
            {
                while (!aborted.IsCancellationRequested)
                {
                    var sent = false;
                    // Each event's id covers exactly what was sent up to it, so a reconnect after any event resumes there.
                    var ledgerSent = ledger.Offset;
                    var newMetrics = Collect(metrics, lines);
                    if (newMetrics.Count > 0) { await Send(response, "metrics", $"m:{metrics.Offset};l:{ledgerSent}", newMetrics, aborted); sent = true; }
                    var newLedger = Collect(ledger, lines);
                    var id = $"m:{metrics.Offset};l:{ledger.Offset}";
                    if (newLedger.Count > 0) { await Send(response, "ledger", id, newLedger, aborted); sent = true; }
                    var a = FileStamp.Of(files.ActuatorsPath);
                    if (a != actuators)
                    {
                        actuators = a;
                        if (RunsEndpoints.ReadJson(files.ActuatorsPath) is { } doc) { await Send(response, "actuators", id, doc, aborted); sent = true; }
                    }
                    var s = FileStamp.Of(files.RunPath);
                    if (s != status)
                    {
                        status = s;
                        interrupted = false;
                        if (RunsEndpoints.ReadJson(files.RunPath) is { } doc) { await Send(response, "status", id, doc, aborted); sent = true; }
                    }
                    else if (!interrupted && ++ticks % LivenessTicks == 0 && runs.Get(runId)?.Status == RunInfo.Interrupted
                             && RunsEndpoints.ReadJson(files.RunPath) is JsonObject dead)
                    {
                        // The process died without writing its end: say so, as the runs list does.
                        interrupted = true;
                        dead["status"] = RunInfo.Interrupted;
                        await Send(response, "status", id, dead, aborted);
                        sent = true;
                    }
                    if (sent) lastSent = DateTime.UtcNow;
                    else if (DateTime.UtcNow - lastSent > Heartbeat)
                    {
                        await response.WriteAsync(": ping\n\n", aborted);
                        await response.Body.FlushAsync(aborted);
                        lastSent = DateTime.UtcNow;
                    }
                    await Task.Delay(Tick, aborted);
                }
            }
            catch (OperationCanceledException)
            {
                // The client went away.
            }
        });
    }

    private static (long Metrics, long Ledger) Parse(string? position, RunFiles files)
    {
        long? m = null, l = null;
        foreach (var part in (position ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = part.Split(':', 2);
            if (kv.Length == 2 && long.TryParse(kv[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 0)
            {
                if (kv[0] == "m") m = v;
                else if (kv[0] == "l") l = v;
            }
        }
        // Where the complete lines end: a partial line is left for the stream.
        static long End(string path)
        {
            if (!File.Exists(path)) return 0;
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            return JsonlTail.AfterLastNewline(handle, RandomAccess.GetLength(handle));
        }
        return (m ?? End(files.MetricsPath), l ?? End(files.LedgerPath));
    }

    private static JsonArray Collect(JsonlTail tail, List<JsonlLine> lines)
    {
        var result = new JsonArray();
        while (result.Count < MaxLinesPerEvent && tail.Poll(lines, 1 << 20) > 0)
        {
            foreach (var line in lines)
            {
                if (line.Oversized) continue;
                try
                {
                    if (JsonNode.Parse(line.Bytes.Span) is JsonObject o) result.Add(o);
                }
                catch (System.Text.Json.JsonException)
                {
                    // A bad line in a file the kernel or trainer wrote is not the viewer's problem; skip it.
                }
            }
        }
        return result;
    }

    private static async Task Send(HttpResponse response, string name, string id, JsonNode data, CancellationToken cancel)
    {
        var text = new StringBuilder().Append("id: ").Append(id).Append("\nevent: ").Append(name).Append("\ndata: ").Append(data.ToJsonString()).Append("\n\n").ToString();
        await response.WriteAsync(text, cancel);
        await response.Body.FlushAsync(cancel);
    }
}
