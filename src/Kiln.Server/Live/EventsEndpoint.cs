using Kiln.Protocol;
using Kiln.Server.Hosting;
using Kiln.Server.Runs;
using Microsoft.AspNetCore.Mvc;

namespace Kiln.Server.Live;

/// <summary>
/// <c>/api/run/events?run=&lt;id&gt;</c>: the run's Server-Sent Events (<see cref="RunEventStream"/>). A reconnecting
/// client sends back the last event's id as <c>Last-Event-ID</c> and misses nothing and sees nothing twice; a first
/// connection starts where the REST answers it loaded ended (<c>?from=m:…;l:…</c>), or at the ends of the files.
/// </summary>
internal static class EventsEndpoint
{
    public static void Map(IEndpointRouteBuilder app, RunIndex runs, RunWatchers watchers)
    {
        app.MapGet("/api/run/events", Results<RunEventStream, JsonHttpResult<ApiError>> (
            string? run, string? from, [FromHeader(Name = "Last-Event-ID")] string? lastEventId) =>
        {
            if (!runs.TryRun(run, out var dir, out var refused)) return refused;
            var files = new RunFiles(dir);
            return new RunEventStream(files, EventPosition.Parse(lastEventId ?? from, files), watchers, runs);
        });
    }
}
