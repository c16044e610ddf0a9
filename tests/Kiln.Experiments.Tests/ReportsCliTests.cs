using System.Net;
using System.Text.RegularExpressions;
using Kiln.Runs;
using Kiln.Testing;

namespace Kiln.Experiments.Tests;

/// <summary><c>kiln reports</c> as a real process: it serves the reports folder over HTTP until a signal stops it.</summary>
public sealed partial class ReportsCliTests : IDisposable
{
    private readonly ExperimentWorkspace _workspace = new("reports-cli");

    public void Dispose() => _workspace.Dispose();

    [GeneratedRegex(@"reports (http://\S+)")]
    private static partial Regex ReportsLine();

    [Fact]
    public async Task Reports_are_served_on_loopback_and_SIGTERM_stops_the_server()
    {
        var run = KilnProcess.Run(_workspace.Dir.Path, TimeSpan.FromMinutes(5), null, "experiment", "demo", "-p", "basic");
        Assert.True(run.ExitCode == 0, run.ToString());
        var reference = Path.GetFileName(Directory.GetDirectories(_workspace.Dir.File("reports")).Single());
        using var server = KilnProcess.Start(_workspace.Dir.Path, null, "reports", "--port", "0", "--plain");
        try
        {
            string? line = null;
            await Wait.UntilAsync(() => (line = server.StandardOutput.ReadLine()) is null || ReportsLine().IsMatch(line), "the reports server to listen");
            var url = ReportsLine().Match(line ?? throw new InvalidOperationException("kiln reports ended: " + server.StandardError.ReadToEnd())).Groups[1].Value;
            Assert.Matches(@"^http://127\.0\.0\.1:\d+/\?token=[0-9a-f]{32}$", url);
            using var client = new HttpClient { BaseAddress = new Uri(url) };
            Assert.Contains(reference, await client.GetStringAsync("/"), StringComparison.Ordinal);
            Assert.Contains("<svg", await client.GetStringAsync($"/{reference}/"), StringComparison.Ordinal);
            using var outside = await client.GetAsync("/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd");
            Assert.NotEqual(HttpStatusCode.OK, outside.StatusCode);
            Processes.Signal(server.Id, Processes.SigTerm);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await server.WaitForExitAsync(timeout.Token);
            Assert.Equal(143, server.ExitCode);
        }
        finally
        {
            if (!server.HasExited) server.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public void Without_reports_it_says_so_and_update_rebuilds_the_index()
    {
        var none = KilnProcess.Run(_workspace.Dir.Path, "reports", "--port", "0");
        Assert.NotEqual(0, none.ExitCode);
        Assert.Contains("no reports yet", none.Stderr, StringComparison.Ordinal);
        Directory.CreateDirectory(_workspace.Dir.File("reports"));
        var update = KilnProcess.Run(_workspace.Dir.Path, "reports", "--update");
        Assert.True(update.ExitCode == 0, update.ToString());
        Assert.True(File.Exists(_workspace.Dir.File("reports/index.html")));
    }
}
