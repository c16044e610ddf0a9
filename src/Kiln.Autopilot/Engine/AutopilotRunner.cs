using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Autopilot.Engine;

/// <summary>
/// Follows a run beside its training, on a thread of its own: polls the session every <c>interval</c> until stopped,
/// then once more, so the last metrics are judged too. A poll that fails (a disk that cannot be read for a moment) is
/// said on the log and the next poll tries again: the autopilot never stops or stalls the training it follows. While
/// it runs, <c>kiln.autopilot.json</c> says its mode and rules, for the dashboard.
/// </summary>
public static class AutopilotRunner
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(500);

    public static Task RunAsync(AutopilotSession session, CancellationToken stop, Action<string>? log = null, TimeSpan? interval = null, TimeProvider? time = null)
    {
        var clock = time ?? TimeProvider.System;
        var every = interval ?? DefaultInterval;
        log ??= _ => { };
        WriteState(session, clock);
        return Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                Poll(session, log);
                try { await Task.Delay(every, clock, stop).ConfigureAwait(false); }
                catch (OperationCanceledException) { break; }
            }
            Poll(session, log);
        }, CancellationToken.None);
    }

    private static void Poll(AutopilotSession session, Action<string> log)
    {
        try
        {
            foreach (var p in session.Poll())
                log($"autopilot: {p.Rule} at step {p.Step}: {p.Action} — {p.Status}{(p.Note is null ? "" : $" ({p.Note})")}; {p.Rationale}");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ProtocolException)
        {
            log($"autopilot: {ex.Message}; trying again at the next poll");
        }
    }

    /// <summary>The autopilot's mode and rules, for the dashboard.</summary>
    public static void WriteState(AutopilotSession session, TimeProvider time) =>
        AtomicFile.WriteJson(Path.Combine(session.Dir, RunFiles.AutopilotState), new JsonObject
        {
            ["mode"] = session.Mode,
            ["pid"] = Environment.ProcessId,
            ["started"] = time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0,
            ["rules"] = new JsonArray([.. session.Rules.Select(r => (JsonNode)r.ToJson())]),
            // The key stays out of the run's files.
            ["ai"] = session.Ai?.Settings is { } ai
                ? new JsonObject { ["model"] = ai.Model, ["base_url"] = ai.BaseUrl, ["budget_usd"] = ai.BudgetUsd, ["cadence"] = ai.Cadence, ["key_metric"] = ai.KeyMetric }
                : null,
        }, durable: false);
}
