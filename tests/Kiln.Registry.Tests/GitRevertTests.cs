using Kiln.Registry.Git;

namespace Kiln.Registry.Tests;

public sealed class GitRevertTests
{
    /// <summary>The files of a folder (ignored ones and .git left out) with their content, for comparison.</summary>
    private static Dictionary<string, string> Tree(string root, params string[] leaveOut) =>
        Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f))
            .Where(r => r != ".git" && !r.StartsWith(".git/", StringComparison.Ordinal) && !leaveOut.Any(l => r.StartsWith(l, StringComparison.Ordinal)))
            .ToDictionary(r => r, r => File.ReadAllText(Path.Combine(root, r)));

    [Fact]
    public void A_new_worktree_gets_exactly_the_snapshot_s_files_and_the_user_s_tree_is_untouched()
    {
        using var repo = new TestRepo();
        repo.Write("train.py", "the code that ran\n");
        repo.Write("src/extra.py", "untracked but used\n");
        repo.Write("run.log", "ignored\n");
        var expected = Tree(repo.Path, "run.log");
        var snapshot = GitSnapshot.Take(repo.Path, "r1", "m");
        repo.Write("train.py", "edited since\n");
        File.Delete(repo.File("src/extra.py"));
        var before = repo.State();

        var result = GitRevert.ToWorktree(repo.Path, snapshot);
        Assert.Equal(before, repo.State());
        Assert.False(result.InPlace);
        Assert.Equal(snapshot.Commit, result.Commit);
        Assert.Equal(Path.Combine(repo.Outside, "repo-kiln-r1"), result.Path);
        Assert.Equal(expected, Tree(result.Path));
        Assert.Equal(snapshot.Commit, TestRepo.GitIn(result.Path, "rev-parse", "HEAD"));
        Assert.Null(repo.TryGit("-C", result.Path, "symbolic-ref", "-q", "HEAD"));
        Assert.Equal($"git worktree remove {result.Path}", result.GoBack);
    }

    [Fact]
    public void A_given_path_is_used_an_empty_one_too_and_a_non_empty_one_is_refused()
    {
        using var repo = new TestRepo();
        var snapshot = GitSnapshot.Take(repo.Path, "r1", "m");
        var empty = Directory.CreateDirectory(Path.Combine(repo.Outside, "empty dir")).FullName;
        Assert.Equal(empty, GitRevert.ToWorktree(repo.Path, snapshot, empty).Path);
        Assert.True(File.Exists(Path.Combine(empty, "train.py")));

        var ex = Assert.Throws<GitException>(() => GitRevert.ToWorktree(repo.Path, snapshot, empty));
        Assert.Equal(GitFailure.Refused, ex.Failure);
        Assert.Contains("exists and is not empty", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_ids_with_slashes_get_one_folder()
    {
        Assert.Equal("/x/proj-kiln-sweep-trial_000", GitRevert.DefaultWorktreePath("/x/proj", "sweep/trial_000"));
        Assert.Equal("/x/proj-kiln-a", GitRevert.DefaultWorktreePath("/x/proj/", "a"));
    }

    [Fact]
    public void In_place_refuses_a_dirty_tree_listing_up_to_ten_files_and_changes_nothing()
    {
        using var repo = new TestRepo();
        var snapshot = GitSnapshot.Take(repo.Path, "r1", "m");
        repo.Write("train.py", "work in progress\n");
        for (var i = 0; i < 11; i++) repo.Write($"new/{i:00}.py", "x\n");
        var before = repo.State();
        var ex = Assert.Throws<GitException>(() => GitRevert.InPlace(repo.Path, snapshot));
        Assert.Equal(GitFailure.Refused, ex.Failure);
        Assert.Contains("12 changes", ex.Message, StringComparison.Ordinal);
        Assert.Contains("M train.py", ex.Message, StringComparison.Ordinal);
        Assert.Contains("?? new/00.py", ex.Message, StringComparison.Ordinal);
        Assert.Contains("and 2 more", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("new/10.py", ex.Message, StringComparison.Ordinal);
        Assert.Equal(before, repo.State());
    }

    [Fact]
    public void In_place_does_not_count_changes_in_excluded_folders()
    {
        using var repo = new TestRepo();
        var snapshot = GitSnapshot.Take(repo.Path, "r1", "m", [repo.File("runs")]);
        repo.Write("runs/r1/kiln.metrics.jsonl", "{}\n");
        Assert.Throws<GitException>(() => GitRevert.InPlace(repo.Path, snapshot));
        Assert.True(GitRevert.InPlace(repo.Path, snapshot, [repo.File("runs")]).InPlace);
        Assert.True(File.Exists(repo.File("runs/r1/kiln.metrics.jsonl")));
    }

    [Fact]
    public void In_place_refuses_a_lone_untracked_file()
    {
        using var repo = new TestRepo();
        var snapshot = GitSnapshot.Take(repo.Path, "r1", "m");
        repo.Write("notes.md", "mine\n");
        Assert.Contains("?? notes.md", Assert.Throws<GitException>(() => GitRevert.InPlace(repo.Path, snapshot)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void In_place_on_a_clean_tree_checks_out_the_snapshot_detached_and_says_how_to_go_back()
    {
        using var repo = new TestRepo();
        repo.Write("train.py", "the experiment\n");
        repo.Write("src/extra.py", "new\n");
        var expected = Tree(repo.Path);
        var snapshot = GitSnapshot.Take(repo.Path, "r1", "m");
        // Back to a clean tree, as after committing or discarding the experiment.
        repo.Git("checkout", "-q", "--", "train.py");
        File.Delete(repo.File("src/extra.py"));
        repo.Write("keep.log", "ignored files are left alone\n");
        var head = repo.Git("rev-parse", "HEAD");

        var result = GitRevert.InPlace(repo.File("src"), snapshot);
        Assert.True(result.InPlace);
        Assert.Equal(repo.Path, result.Path);
        Assert.Equal("git switch main", result.GoBack);
        Assert.Equal(snapshot.Commit, repo.Git("rev-parse", "HEAD"));
        Assert.Null(repo.TryGit("symbolic-ref", "-q", "HEAD"));
        Assert.Equal(expected, Tree(repo.Path, "keep.log"));
        Assert.Equal("ignored files are left alone\n", File.ReadAllText(repo.File("keep.log")));

        repo.Git("switch", "-q", "main");
        Assert.Equal(head, repo.Git("rev-parse", "HEAD"));
        Assert.Equal("print('train')\n", File.ReadAllText(repo.File("train.py")));
    }

    [Fact]
    public void In_place_from_a_detached_HEAD_says_which_commit_to_return_to()
    {
        using var repo = new TestRepo();
        var snapshot = GitSnapshot.Take(repo.Path, "r1", "m");
        repo.Git("checkout", "-q", "--detach");
        var head = repo.Git("rev-parse", "HEAD");
        Assert.Equal($"git switch --detach {head}", GitRevert.InPlace(repo.Path, snapshot).GoBack);
    }

    [Fact]
    public void In_place_refuses_to_overwrite_an_ignored_file_standing_where_the_snapshot_has_one()
    {
        using var repo = new TestRepo();
        repo.Write("data/labels.csv", "placeholder\n");
        repo.Write(".gitignore", "*.log\n");
        var snapshot = GitSnapshot.Take(repo.Path, "r1", "m");
        repo.Git("checkout", "-q", "--", ".gitignore");
        repo.Write("data/labels.csv", "precious, ignored now\n");
        var before = repo.State();
        var ex = Assert.Throws<GitException>(() => GitRevert.InPlace(repo.Path, snapshot));
        Assert.Contains("data/labels.csv", ex.Message, StringComparison.Ordinal);
        Assert.Equal(before, repo.State());
    }

    [Fact]
    public void A_snapshot_from_another_repository_is_named_as_missing()
    {
        using var repo = new TestRepo();
        var stranger = new Snapshot(new string('c', 40), "refs/kiln/runs/x", null, null, false);
        var ex = Assert.Throws<GitException>(() => GitRevert.ToWorktree(repo.Path, stranger));
        Assert.Contains($"run x's snapshot {stranger.Commit} is not in the repository", ex.Message, StringComparison.Ordinal);
    }
}
