using Kiln.Registry.Git;
using Kiln.Testing;

namespace Kiln.Registry.Tests;

/// <summary>Finding a run's snapshot from what a user types: a run id in a workspace, or a run directory's path.</summary>
public sealed class GitRunLookupTests
{
    private static readonly Snapshot Any = new(new string('a', 40), "refs/kiln/runs/r1", null, "main", false);

    private static string Run(string root, string relative, string id)
    {
        var dir = Path.Combine(root, relative);
        SnapshotFile.Write(dir, Any with { Ref = "refs/kiln/runs/" + id });
        return dir;
    }

    [Fact]
    public void A_run_id_is_found_under_runs_then_anywhere_below_the_workspace()
    {
        using var tmp = new TempDir("lookup");
        File.WriteAllText(tmp.File("kiln.json"), "{}");
        var direct = Run(tmp.Path, "runs/r1", "r1");
        var trial = Run(tmp.Path, "out/log/sweep/mnist/mlp/adam/trial_000", "trial_000");
        Run(tmp.Path, "node_modules/x/r9", "r9");
        var runs = RunSnapshots.For(tmp.Sub("cfg"));
        Assert.Equal(tmp.Path, runs.Root);
        Assert.Equal(direct, runs.Resolve("r1").RunDirectory);
        Assert.Equal(trial, runs.Resolve("trial_000").RunDirectory);
        Assert.Equal(trial, runs.Resolve("adam/trial_000").RunDirectory);
        Assert.Equal("refs/kiln/runs/trial_000", runs.Resolve("trial_000").Snapshot.Ref);

        var missing = Assert.Throws<GitException>(() => runs.Resolve("r9"));
        Assert.Equal(GitFailure.Refused, missing.Failure);
        Assert.Contains("no run r9 with a code snapshot under", missing.Message, StringComparison.Ordinal);
        Assert.Throws<GitException>(() => runs.Resolve("../r1"));
    }

    [Fact]
    public void A_run_without_a_snapshot_and_an_ambiguous_id_say_so()
    {
        using var tmp = new TempDir("lookup");
        File.WriteAllText(tmp.File("kiln.json"), "{}");
        tmp.Sub("runs/bare");
        Run(tmp.Path, "a/twice", "twice");
        Run(tmp.Path, "b/twice", "twice");
        var runs = RunSnapshots.For(tmp.Path);
        Assert.Contains("recorded without a code snapshot", Assert.Throws<GitException>(() => runs.Resolve("bare")).Message, StringComparison.Ordinal);
        Assert.Contains("is ambiguous", Assert.Throws<GitException>(() => runs.Resolve("twice")).Message, StringComparison.Ordinal);
        Assert.Equal(Path.Combine(tmp.Path, "a", "twice"), runs.Resolve("a/twice", tmp.Path).RunDirectory);
    }

    [Fact]
    public void A_run_directory_s_path_is_taken_as_it_is()
    {
        using var tmp = new TempDir("lookup");
        var dir = Run(tmp.Path, "somewhere/run x", "x");
        var runs = new RunSnapshots(tmp.Path, new FolderRunFinder(tmp.Path));
        var found = runs.Resolve(dir);
        Assert.Equal("x", found.RunId);
        Assert.Equal(dir, found.RunDirectory);
        Assert.Equal(dir, runs.Resolve("run x", Path.Combine(tmp.Path, "somewhere")).RunDirectory);
    }

    [Fact]
    public void Outside_a_workspace_the_git_repository_is_the_root_and_outside_both_it_is_an_error()
    {
        using var repo = new TestRepo();
        Assert.Equal(repo.Path, RunSnapshots.For(repo.File("src")).Root);
        using var tmp = new TempDir("nothing");
        Assert.Equal(GitFailure.NotARepository, Assert.Throws<GitException>(() => RunSnapshots.For(tmp.Path)).Failure);
    }
}
