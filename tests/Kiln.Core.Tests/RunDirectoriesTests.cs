using Kiln.Protocol;
using Kiln.Runs;
using Kiln.Testing;

namespace Kiln.Core.Tests;

public sealed class RunDirectoriesTests
{
    private static void Touch(string root, string relative)
    {
        var path = Path.Combine(root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "{}");
    }

    [Fact]
    public void Runs_trials_and_loops_are_found_and_nothing_below_a_run_or_in_skipped_folders()
    {
        using var tmp = new TempDir("walk");
        Touch(tmp.Path, "runs/a/" + RunFiles.Run);
        Touch(tmp.Path, "runs/a/nested/" + RunFiles.Run);                       // below a run: not looked at
        Touch(tmp.Path, "out/log/sweep/d/m/t/trial_000/" + RunFiles.Trial);     // a trial not run yet
        Touch(tmp.Path, "loop/" + RunFiles.Metrics);
        Touch(tmp.Path, ".kiln/models/x/" + RunFiles.Run);
        Touch(tmp.Path, "node_modules/p/" + RunFiles.Run);
        Touch(tmp.Path, "stray/" + RunFiles.Commands);                         // a stray inbox above a run is no run…
        Touch(tmp.Path, "stray/inner/" + RunFiles.Run);
        Touch(tmp.Path, "lonely/" + RunFiles.Commands);                        // …but one with no run beneath it is

        var found = RunDirectories.Walk(tmp.Path);
        Assert.Equal(["lonely", "loop", "out/log/sweep/d/m/t/trial_000", "runs/a", "stray/inner"], found.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(Path.Combine(tmp.Path, "runs", "a"), found["runs/a"]);
        Assert.True(RunDirectories.IsRun(Path.Combine(tmp.Path, "runs", "a")));
        Assert.False(RunDirectories.IsRun(tmp.Path));
    }
}
