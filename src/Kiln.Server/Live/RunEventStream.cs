using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Kiln.IO;
using Kiln.Protocol;
using Kiln.Server.Runs;

namespace Kiln.Server.Live;

/// <summary>
/// One client's Server-Sent Events of one run, from <paramref name="start"/>: <c>metrics</c> (new metric lines),
/// <c>ledger</c> (new decisions), <c>actuators</c> (the dials changed) and <c>status</c> (<c>kiln.run.json</c> changed, or
/// the run's process died without saying so). The run's <see cref="RunWatcher"/> says when to look; the stream reads
/// from where it stands, so each event's id (<see cref="EventPosition"/>) covers exactly what was sent up to it. Before
/// every look the run is checked again (<see cref="RunIndex.Refusal"/>): a file turned into a link out of the served
/// directory ends the stream unread, and the client's reconnection is refused.
/// </summary>
internal sealed class RunEventStream(RunFiles files, EventPosition start, RunWatchers watchers, RunIndex runs) : IResult
{
    private static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(15);
    private const int MaxLinesPerEvent = 5000;

    public async Task ExecuteAsync(HttpContext context)
    {
        var response = context.Response;
        var aborted = context.RequestAborted;
        var time = watchers.Time;
        var metrics = new JsonlTail(files.MetricsPath, startOffset: start.Metrics);
        var ledger = new JsonlTail(files.LedgerPath, startOffset: start.Ledger);
        var actuators = FileStamp.Of(files.ActuatorsPath);
        var status = FileStamp.Of(files.RunPath);
        var interrupted = false;
        var lines = new List<JsonlLine>();
        // A wake-up: the watcher's news while a pass is under way wait here (one is enough), so nothing is missed.
        var wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
        using var watching = watchers.Listen(files.Dir, _ => wake.Writer.TryWrite(true));
        response.Headers.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        try
        {
            await response.WriteAsync("retry: 1000\n\n", aborted);
            await response.Body.FlushAsync(aborted);
            var lastSent = time.GetTimestamp();
            while (!aborted.IsCancellationRequested && runs.Refusal(files.Dir) is null)
            {
                // The first pass, right after listening, sends what changed since this stream's start.
                var sent = false;
                var ledgerSent = ledger.Offset;
                var newMetrics = Collect(metrics, lines);
                if (newMetrics.Count > 0) sent = await Send(response, "metrics", new EventPosition(metrics.Offset, ledgerSent), newMetrics, aborted);
                var newLedger = Collect(ledger, lines);
                var id = new EventPosition(metrics.Offset, ledger.Offset);
                if (newLedger.Count > 0) sent = await Send(response, "ledger", id, newLedger, aborted);
                var a = FileStamp.Of(files.ActuatorsPath);
                if (a != actuators)
                {
                    actuators = a;
                    if (RunsEndpoints.ReadJson(files.ActuatorsPath) is { } doc) sent = await Send(response, "actuators", id, doc, aborted);
                }
                var s = FileStamp.Of(files.RunPath);
                if (s != status)
                {
                    status = s;
                    interrupted = false;
                    if (RunsEndpoints.ReadJson(files.RunPath) is { } doc) sent = await Send(response, "status", id, doc, aborted);
                }
                else if (!interrupted && watching.Watcher.Interrupted && RunsEndpoints.ReadJson(files.RunPath) is JsonObject dead)
                {
                    // The process died without writing its end: said once, as the runs list says it.
                    interrupted = true;
                    dead["status"] = RunInfo.Interrupted;
                    sent = await Send(response, "status", id, dead, aborted);
                }
                if (sent) lastSent = time.GetTimestamp();
                else if (time.GetElapsedTime(lastSent) >= Heartbeat)
                {
                    await response.WriteAsync(": ping\n\n", aborted);
                    await response.Body.FlushAsync(aborted);
                    lastSent = time.GetTimestamp();
                }
                await WakeAsync(wake.Reader, Heartbeat - time.GetElapsedTime(lastSent), time, aborted);
            }
        }
        catch (OperationCanceledException)
        {
            // The client went away.
        }
    }

    /// <summary>Returns when the watcher has news, or after <paramref name="timeout"/> (a heartbeat is due).</summary>
    private static async Task WakeAsync(ChannelReader<bool> wake, TimeSpan timeout, TimeProvider time, CancellationToken cancel)
    {
        if (wake.TryRead(out _)) return;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var woken = wake.WaitToReadAsync(stop.Token).AsTask();
        await Task.WhenAny(woken, Task.Delay(timeout > TimeSpan.Zero ? timeout : TimeSpan.Zero, time, stop.Token));
        await stop.CancelAsync();
        wake.TryRead(out _);
        cancel.ThrowIfCancellationRequested();
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

    /// <summary>Writes one event; returns true (it was sent).</summary>
    private static async Task<bool> Send(HttpResponse response, string name, EventPosition id, JsonNode data, CancellationToken cancel)
    {
        var text = new StringBuilder().Append("id: ").Append(id.ToString()).Append("\nevent: ").Append(name).Append("\ndata: ").Append(data.ToJsonString()).Append("\n\n").ToString();
        await response.WriteAsync(text, cancel);
        await response.Body.FlushAsync(cancel);
        return true;
    }
}
