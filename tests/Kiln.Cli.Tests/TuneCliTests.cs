using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Cli.Tests;

/// <summary><c>kiln tune …</c> as real processes: a tuned run's status and summary, settings checked by the kernel.</summary>
public sealed class TuneCliTests
{
    private static readonly TimeSpan Exit = TimeSpan.FromSeconds(120);

    [Fact]
    public void Status_and_export_recipe_tell_a_tuned_run_s_segments()
    {
        using var dir = new TempDir("tune-cli");
        var run = Path.Combine(dir.Path, "run");
        Directory.CreateDirectory(run);
        File.WriteAllText(Path.Combine(run, RunFiles.Config), "version: 1\ntune:\n  params:\n    mode: active\n    search.startup: 3\n");
        var launched = KilnProcess.Run(dir.Path, Exit, null, "launch", "--config", "simple", "--max-steps", "120", "--param", "eval_every=10", "lr=0.0001",
            "--run-dir", run, "--data-dir", dir.Sub("empty"), "--no-serve", "--plain");
        Assert.True(launched.ExitCode == 0, launched.ToString());

        var status = KilnProcess.Run(dir.Path, "--dir", run, "tune", "status", "--plain");
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Matches(@"^mode active: \d+ mutations, \d+ accepted, \d+ rolled back \(accept rate \d+ %\)", status.Stdout);
        Assert.Contains("SEGMENT", status.Stdout);

        var outFile = Path.Combine(dir.Path, "summary.json");
        var export = KilnProcess.Run(dir.Path, "--dir", run, "tune", "export-recipe", "--out", outFile);
        Assert.True(export.ExitCode == 0, export.ToString());
        var summary = JsonNode.Parse(File.ReadAllText(outFile))!;
        var segments = summary["segments"]!.AsArray();
        Assert.Equal((int)summary["mutations"]!, segments.Count);
        Assert.True(segments.Count > 0);
        Assert.Equal((int)summary["accepted"]! + (int)summary["rolled_back"]!, segments.Count(s => s!["decision"] is not null));
        Assert.Equal("active", (string?)summary["settings"]!["mode"]);
    }

    [Fact]
    public void An_untuned_run_says_so_and_a_bad_setting_is_refused_by_the_kernel()
    {
        using var dir = new TempDir("tune-cli-bad");
        var run = Path.Combine(dir.Path, "run");
        Directory.CreateDirectory(run);
        File.WriteAllText(Path.Combine(run, RunFiles.Config), "version: 1\n");
        var status = KilnProcess.Run(dir.Path, "--dir", run, "tune", "status");
        Assert.Equal("tune has not been used in this run (`kiln tune enable` turns it on)\n", status.Stdout);

        var queued = KilnProcess.Run(dir.Path, "--dir", run, "tune", "set", "acceptance.epsilon=oops");
        Assert.True(queued.ExitCode == 0, queued.ToString());
        var launched = KilnProcess.Run(dir.Path, Exit, null, "launch", "--config", "simple", "--max-steps", "3", "--param", "eval_every=1",
            "--run-dir", run, "--data-dir", dir.Sub("empty"), "--no-serve", "--plain");
        Assert.True(launched.ExitCode == 0, launched.ToString());
        var line = Assert.Single(Kiln.Kernel.Ledger.ReadAll(Path.Combine(run, RunFiles.Ledger)), l => l.Module == "tune");
        Assert.Equal((Decision.Rejected, "acceptance.epsilon: expected a number, got \"oops\""), (line.Decision, line.Error));
    }
}
