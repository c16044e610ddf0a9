using System.CommandLine;
using Kiln.Cli.Output;
using Kiln.Server.Hosting;
using Kiln.Runs;
using Kiln.Train.Runs;

namespace Kiln.Cli.Commands;

/// <summary><c>kiln serve</c> and <c>kiln demo</c>: the dashboard (docs/dashboard.md).</summary>
internal static class ServeCommands
{
    public static (Option<string> Host, Option<int> Port, Option<string> Token) ServerOptions(int defaultPort = 8421) =>
    (
        new Option<string>("--host") { Description = "Address to listen on; any but loopback requires the token on every request", DefaultValueFactory = _ => "127.0.0.1" },
        new Option<int>("--port") { Description = "Port to listen on (0: any free port)", DefaultValueFactory = _ => defaultPort },
        new Option<string>("--token") { Description = "The token for changes (and, off loopback, every request); generated when not given" }
    );

    public static Command Serve(Cli cli)
    {
        var (host, port, token) = ServerOptions();
        var autopilot = AutopilotPlan.Options();
        var command = new Command("serve", "Serve the dashboard for a run directory or a workspace (--dir)") { host, port, token };
        foreach (var option in autopilot.All) command.Options.Add(option);
        cli.Handle(command, c =>
        {
            var pilot = AutopilotPlan.From(c, autopilot);
            if (pilot is not null && !Kiln.Control.RunControl.IsRunDirectory(c.Run.Files.Dir))
                throw new UsageException($"--autopilot follows one run: {c.Run.Files.Dir} is not a run directory (give --dir <run>)");
            var stop = StopSignals.Install();
            var server = Start(c, c.Run.Files.Dir, c.Get(host)!, c.Get(port), c.Get(token));
            c.Out.Line("dashboard ", server.PageUrl(), "cyan", $"  (serving {c.Run.Files.Dir}; Ctrl-C to stop)");
            c.Out.Line($"token: {server.Token}");
            using var following = pilot?.Follow(c.Run.Files.Dir, c.Out);
            server.WaitAsync(stop.Token).GetAwaiter().GetResult();
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return stop.StopRequested ? stop.ExitCode : 0;
        });
        return command;
    }

    /// <summary>The demo trains this long by default: about twenty minutes at its default step delay.</summary>
    public const long DemoSteps = 50_000;

    public static Command Demo(Cli cli)
    {
        var golden = new Option<bool>("--golden") { Description = "The multi-task run (classification + reconstruction) instead of the simple one" };
        var (host, port, token) = ServerOptions();
        var steps = new Option<long>("--max-steps")
        {
            Description = $"Steps to train (default {DemoSteps:N0}: at the default delay, time enough to steer it from the page; Ctrl-C stops it sooner)",
            DefaultValueFactory = _ => DemoSteps,
        };
        var delay = new Option<double>("--step-delay") { Description = "Seconds between steps, so the charts can be watched", DefaultValueFactory = _ => 0.01 };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 42, Description = "Seed of the run" };
        var dataDir = new Option<string>("--data-dir") { Description = "Where Fashion-MNIST is (default /usr/share/datasets/fashion-mnist)" };
        var exitWhenDone = new Option<bool>("--exit-when-done") { Description = "Stop serving when training ends" };
        var autopilot = AutopilotPlan.Options();
        var command = new Command("demo", "Train a built-in run under runs/ and serve the dashboard on it")
        {
            golden, host, port, token, steps, delay, seed, dataDir, exitWhenDone,
        };
        foreach (var option in autopilot.All) command.Options.Add(option);
        cli.Handle(command, c =>
        {
            var pilot = AutopilotPlan.From(c, autopilot);
            var config = c.Get(golden) ? "multitask" : "simple";
            // The options are checked before anything starts: a bad one leaves no server and no run directory behind.
            var maxSteps = c.Get(steps) > 0 ? c.Get(steps) : throw new UsageException("--max-steps: must be > 0");
            var stepDelay = DurationOption.Get(c, delay, zeroAllowed: true);
            var workspace = c.Run.Files.Dir;
            var runDir = RunLauncher.NewRunDir(Path.Combine(workspace, "runs"), "demo-" + config);
            Directory.CreateDirectory(runDir);
            var stop = StopSignals.Install();
            var server = Start(c, workspace, c.Get(host)!, c.Get(port), c.Get(token));
            var id = Path.GetRelativePath(workspace, runDir).Replace(Path.DirectorySeparatorChar, '/');
            c.Out.Line("dashboard ", server.RunUrl(id), "cyan", "");
            c.Out.Line($"token: {server.Token}");
            var options = new LaunchOptions
            {
                Function = BuiltInRuns.Get(config), RunDir = runDir, Kind = "demo", MaxSteps = maxSteps, Seed = c.Get(seed), DataDir = c.Get(dataDir),
                StepDelay = stepDelay, Kernel = LaunchCommand.KernelDefaults(),
            };
            var code = LaunchCommand.Launch(c.Out, options, stop.Token, pilot);
            if (!c.Get(exitWhenDone) && !stop.StopRequested)
            {
                c.Out.Line($"training ended; the dashboard stays at {server.Url} until Ctrl-C");
                server.WaitAsync(stop.Token).GetAwaiter().GetResult();
            }
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return stop.StopRequested ? stop.ExitCode : code;
        });
        return command;
    }

    public static KilnServer Start(Context c, string root, string host, int port, string? token) =>
        Start(host, port, options => KilnServer.StartAsync(options with { Root = root, Token = token }));

    /// <summary>Starts a server on <paramref name="host"/>:<paramref name="port"/>; an address it cannot listen on is one clear line.</summary>
    public static KilnServer Start(string host, int port, Func<Kiln.Server.Hosting.ServerOptions, Task<KilnServer>> start)
    {
        try
        {
            return start(new Kiln.Server.Hosting.ServerOptions { Root = "", Host = host, Port = port }).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is IOException or FormatException or System.Net.Sockets.SocketException)
        {
            throw new Kiln.Protocol.ProtocolException($"the dashboard could not listen on {host}:{port}: {ex.Message}");
        }
    }
}
