using Kiln.Protocol;
using Kiln.Server.Hosting;
using Kiln.Server.Runs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

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
        app.MapGet("/api/run/events", async (HttpContext context) =>
        {
            if (!Http.TryRun(context, runs, out _, out var dir, out var error))
            {
                await error!.ExecuteAsync(context);
                return;
            }
            var files = new RunFiles(dir);
            var position = context.Request.Headers["Last-Event-ID"].FirstOrDefault() ?? context.Request.Query["from"].FirstOrDefault();
            await new RunEventStream(files, EventPosition.Parse(position, files), watchers).ExecuteAsync(context);
        });
    }
}
