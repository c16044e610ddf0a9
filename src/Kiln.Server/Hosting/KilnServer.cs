using System.Net;
using Kiln.Server.Control;
using Kiln.Server.Files;
using Kiln.Server.Live;
using Kiln.Server.Metrics;
using Kiln.Server.Runs;
using Kiln.Server.Security;
using Kiln.Server.Ui;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Kiln.Server.Hosting;

/// <summary>
/// Kiln's dashboard server: ASP.NET Core minimal APIs grouped by feature (runs, metrics, control, live events, UI)
/// over the run directories under <see cref="ServerOptions.Root"/>, and the static UI — or, started with
/// <see cref="StartFolderAsync"/>, one folder's files (the experiment reports) under the same access rules.
/// </summary>
public sealed class KilnServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private KilnServer(WebApplication app, string url, AccessPolicy access, RunIndex? runs)
    {
        _app = app;
        Url = url;
        Access = access;
        Runs = runs;
    }

    /// <summary>The server's address, e.g. <c>http://127.0.0.1:8421/</c>: what scripts and the API are reached at.</summary>
    public string Url { get; }
    public AccessPolicy Access { get; }
    /// <summary>The runs served (null when serving a folder's files, <see cref="StartFolderAsync"/>).</summary>
    public RunIndex? Runs { get; }
    public string Token => Access.Token;

    /// <summary>
    /// The address to print for the person who started the server, e.g. <c>http://127.0.0.1:8421/?token=…#/runs</c>:
    /// opening it gives that browser the right to make changes (<see cref="AccessPolicy"/>). Print it, never serve it.
    /// </summary>
    public string PageUrl(string route = "") => $"{Url}?{AccessPolicy.Query}={Uri.EscapeDataString(Token)}{route}";

    /// <summary>The page of one run, as <see cref="PageUrl"/>.</summary>
    public string RunUrl(string id) => PageUrl($"#/run?run={Uri.EscapeDataString(id)}");

    public static async Task<KilnServer> StartAsync(ServerOptions options, CancellationToken cancel = default)
    {
        var access = Check(options);
        var runs = new RunIndex(options.Root, options.Time);
        var watchers = new RunWatchers(options.Time);
        var store = new MetricsStore(previewBytes: options.PreviewBytes, watchers: watchers);
        var app = Build(options, access);
        var slurm = new SlurmStates(runs.Root, runs.Confinement, options.SlurmStatus ?? new Kiln.Execution.Slurm.SlurmStatusReader(), options.Time);
        RunsEndpoints.Map(app, runs, slurm);
        ModelsEndpoints.Map(app, runs);
        MetricsEndpoints.Map(app, runs, store);
        ControlEndpoints.Map(app, runs);
        AutopilotEndpoints.Map(app, runs);
        TuneEndpoints.Map(app, runs);
        EventsEndpoint.Map(app, runs, watchers);
        UiEndpoints.Map(app, access);
        // Endpoints are built (their parameter binding compiled) now rather than by the first request, which for a
        // large run is the one a user waits on.
        foreach (var source in ((IEndpointRouteBuilder)app).DataSources) _ = source.Endpoints;
        await app.StartAsync(cancel);
        var warmup = Warm(runs, store, options.WarmRuns);
        return new KilnServer(app, AddressOf(app, options), access, runs) { Warmup = warmup, Metrics = store, Watchers = watchers };
    }

    /// <summary>
    /// Serves the files of <see cref="ServerOptions.Root"/> as they are, read-only (<c>kiln reports</c>: the experiment
    /// reports and their index), under the dashboard's rules: loopback by default, the token on every request
    /// elsewhere, and nothing outside the folder readable, symbolic links included (<see cref="FolderEndpoints"/>).
    /// </summary>
    public static async Task<KilnServer> StartFolderAsync(ServerOptions options, CancellationToken cancel = default)
    {
        var access = Check(options);
        var app = Build(options, access);
        FolderEndpoints.Map(app, new Confinement(options.Root));
        await app.StartAsync(cancel);
        return new KilnServer(app, AddressOf(app, options), access, runs: null);
    }

    private static AccessPolicy Check(ServerOptions options)
    {
        if (!Directory.Exists(options.Root)) throw new DirectoryNotFoundException($"{options.Root}: no such directory to serve");
        return new AccessPolicy(options.Host, options.Token);
    }

    /// <summary>Kestrel on the options' address, with the access policy in front of everything and errors in the API's shape.</summary>
    private static WebApplication Build(ServerOptions options, AccessPolicy access)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.ConfigureHttpJsonOptions(ServerJson.Configure);
        // A request that cannot be bound is a 400 with the reason, in the API's error shape (ApiErrors).
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxRequestBytes;
            k.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
            var address = options.Host == "localhost" ? IPAddress.Loopback : IPAddress.Parse(options.Host);
            k.Listen(address, options.Port);
        });
        var app = builder.Build();
        app.Use(access.Guard);
        app.Use(ApiErrors.Handle);
        return app;
    }

    /// <summary>The address to hand out: the port actually bound, and, bound to every address, this machine's name.</summary>
    private static string AddressOf(WebApplication app, ServerOptions options)
    {
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var port = new Uri(bound).Port;
        var host = options.Host is "0.0.0.0" or "::" ? Dns.GetHostName()
            : options.Host.Contains(':', StringComparison.Ordinal) ? $"[{options.Host}]" : options.Host;
        return $"http://{host}:{port}/";
    }

    internal MetricsStore? Metrics { get; private init; }

    internal RunWatchers? Watchers { get; private init; }

    /// <summary>Completes when the runs read at start are read.</summary>
    public Task Warmup { get; private init; } = Task.CompletedTask;

    /// <summary>
    /// Reads the metrics of the most recently written runs in the background, below normal priority, so their pages
    /// draw at once: a file of a million lines takes a few hundred milliseconds to read the first time.
    /// </summary>
    private static Task Warm(RunIndex runs, MetricsStore store, int count)
    {
        if (count <= 0) return Task.CompletedTask;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                var recent = runs.All()
                    .Where(r => runs.Refusal(r.Dir) is null)
                    .Select(r => (r.Dir, Written: File.GetLastWriteTimeUtc(Path.Combine(r.Dir, Kiln.Protocol.RunFiles.Metrics))))
                    .Where(r => r.Written.Year > 1601)
                    .OrderByDescending(r => r.Written)
                    .Take(count);
                foreach (var (dir, _) in recent) store.Get(dir);
                done.SetResult();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                done.SetResult(); // a run that cannot be read now is read when asked for, and says why then
            }
        })
        { IsBackground = true, Priority = ThreadPriority.BelowNormal, Name = "kiln-metrics-warmup" };
        thread.Start();
        return done.Task;
    }

    /// <summary>Completes when the server stops (disposed, or the token is cancelled).</summary>
    public Task WaitAsync(CancellationToken cancel) => Task.Delay(Timeout.Infinite, cancel).ContinueWith(_ => { }, TaskScheduler.Default);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Watchers?.Dispose();
    }
}
