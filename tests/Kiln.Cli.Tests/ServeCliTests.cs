using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Cli.Tests;

/// <summary><c>kiln serve</c>, <c>kiln demo</c> and the dashboard of <c>kiln launch</c>, as real processes.</summary>
public sealed partial class ServeCliTests
{
    [GeneratedRegex(@"dashboard (http://\S+)")]
    private static partial Regex DashboardLine();

    private static async Task<string> ReadUrl(System.Diagnostics.Process process)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            var line = await process.StandardOutput.ReadLineAsync(limit.Token)
                ?? throw new InvalidOperationException("kiln ended before printing its dashboard: " + await process.StandardError.ReadToEndAsync());
            if (DashboardLine().Match(line) is { Success: true } m) return m.Groups[1].Value;
        }
    }

    [Fact]
    public void Demo_trains_the_simple_run_under_runs_and_prints_its_page()
    {
        using var dir = new TempDir("demo");
        var result = KilnProcess.Run(dir.Path, "demo", "--port", "0", "--max-steps", "20", "--step-delay", "0", "--exit-when-done", "--data-dir", dir.Sub("empty"));
        Assert.True(result.ExitCode == 0, result.ToString());
        var url = DashboardLine().Match(result.Stdout).Groups[1].Value;
        Assert.Matches(@"^http://127\.0\.0\.1:\d+/\?token=[0-9a-f]{32}#/run\?run=runs%2F\d{8}-\d{6}-demo-simple$", url);
        Assert.Matches(@"token: [0-9a-f]{32}", result.Stdout);
        var run = Assert.Single(Directory.GetDirectories(Path.Combine(dir.Path, "runs")));
        var info = JsonNode.Parse(File.ReadAllText(Path.Combine(run, RunFiles.Run)))!;
        Assert.Equal(("completed", "demo", "simple"), ((string?)info["status"], (string?)info["kind"], (string?)info["config"]));
    }

    [Fact]
    public void Demo_golden_trains_the_multitask_run()
    {
        using var dir = new TempDir("demo");
        var result = KilnProcess.Run(dir.Path, "demo", "--golden", "--port", "0", "--max-steps", "4", "--step-delay", "0", "--exit-when-done", "--data-dir", dir.Sub("empty"));
        Assert.True(result.ExitCode == 0, result.ToString());
        var run = Assert.Single(Directory.GetDirectories(Path.Combine(dir.Path, "runs")));
        Assert.EndsWith("demo-multitask", run, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_answers_for_the_runs_of_its_directory_until_stopped()
    {
        using var dir = new TempDir("serve");
        var run = KilnProcess.Run(dir.Path, "launch", "--no-serve", "--config", "simple", "--max-steps", "5", "--run-dir", "runs/one", "--data-dir", dir.Sub("empty"));
        Assert.True(run.ExitCode == 0, run.ToString());
        using var server = KilnProcess.Start(dir.Path, null, "serve", "--port", "0");
        try
        {
            var url = await ReadUrl(server);
            Assert.Matches(@"^http://127\.0\.0\.1:\d+/\?token=[0-9a-f]{32}$", url);
            using var client = new HttpClient { BaseAddress = new Uri(url) };
            var runs = JsonNode.Parse(await client.GetStringAsync("/api/runs"))!;
            Assert.Equal("runs/one", (string?)runs["runs"]![0]!["id"]);
            Assert.Equal("completed", (string?)runs["runs"]![0]!["status"]);
            var refused = await client.PostAsync("/api/run/commands?run=runs/one", new StringContent("{}"));
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync();
        }
    }

    [Fact]
    public void Serve_of_a_missing_directory_or_a_bad_host_fails_clearly()
    {
        using var dir = new TempDir("serve");
        var missing = KilnProcess.Run(dir.Path, "--dir", Path.Combine(dir.Path, "nowhere"), "serve", "--port", "0");
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("nowhere", missing.Stderr, StringComparison.Ordinal);

        var badHost = KilnProcess.Run(dir.Path, "serve", "--host", "999.1.2.3", "--port", "0");
        Assert.NotEqual(0, badHost.ExitCode);
        Assert.Contains("could not listen on 999.1.2.3", badHost.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Launch_trains_anyway_when_the_dashboard_port_is_taken()
    {
        using var dir = new TempDir("launch");
        var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        try
        {
            var port = ((IPEndPoint)taken.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var result = KilnProcess.Run(dir.Path, "launch", "--config", "simple", "--max-steps", "5", "--port", port, "--run-dir", "run", "--data-dir", dir.Sub("empty"));
            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.Contains("training without it", result.Stderr, StringComparison.Ordinal);
            Assert.Contains("run completed after 5 steps", result.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            taken.Stop();
        }
    }

    [Fact]
    public void Launch_prints_its_dashboard_page()
    {
        using var dir = new TempDir("launch");
        var result = KilnProcess.Run(dir.Path, "launch", "--config", "simple", "--max-steps", "5", "--port", "0", "--run-dir", "runs/x", "--data-dir", dir.Sub("empty"));
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches(@"dashboard http://127\.0\.0\.1:\d+/\?token=[0-9a-f]{32}#/run\?run=runs%2Fx", result.Stdout);
    }
}
