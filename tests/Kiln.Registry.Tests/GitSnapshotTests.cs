using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Kiln.Protocol;
using Kiln.Registry.Git;
using Kiln.Testing;

namespace Kiln.Registry.Tests;

/// <summary>A real git repository in a temporary folder, driven by the git command line as a user would.</summary>
internal sealed class TestRepo : IDisposable
{
    private readonly TempDir _tmp;

    public TestRepo(string name = "repo", bool commit = true)
    {
        _tmp = new TempDir("git");
        Path = _tmp.Sub(name);
        Git("init", "-q", "-b", "main");
        if (!commit) return;
        Write("train.py", "print('train')\n");
        Write("src/model.py", "layers = 2\n");
        Write(".gitignore", "*.log\ndata/\n");
        Git("add", "-A");
        Git("commit", "-q", "-m", "first");
    }

    public string Path { get; }

    /// <summary>The temporary folder around the repository (for worktrees beside it).</summary>
    public string Outside => _tmp.Path;

    public string File(string relative) => System.IO.Path.Combine(Path, relative);

    public void Write(string relative, string content)
    {
        var path = File(relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        System.IO.File.WriteAllText(path, content);
    }

    public string Git(params string[] args) => GitIn(Path, args);

    public static string GitIn(string dir, params string[] args)
    {
        var info = new ProcessStartInfo("git")
        {
            WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            StandardOutputEncoding = new UTF8Encoding(false),
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["GIT_AUTHOR_NAME"] = info.Environment["GIT_COMMITTER_NAME"] = "tester";
        info.Environment["GIT_AUTHOR_EMAIL"] = info.Environment["GIT_COMMITTER_EMAIL"] = "tester@example.org";
        using var p = Process.Start(info)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"git {string.Join(' ', args)}: {error}");
        return output.Result.TrimEnd('\n');
    }

    /// <summary>The paths of a commit's tree, sorted.</summary>
    public string[] Files(string commit) =>
        Git("-c", "core.quotepath=off", "ls-tree", "-r", "--name-only", commit).Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal).ToArray();

    public string Show(string commit, string path) => Git("show", $"{commit}:{path}");

    /// <summary>
    /// Everything a snapshot must leave alone, as one string: every file of the working tree (ignored ones too) with the
    /// hash of its bytes, the index file's bytes, HEAD, the current branch, the stash (list and ref) and every ref but Kiln's.
    /// </summary>
    public string State()
    {
        var sb = new StringBuilder();
        foreach (var file in Directory.EnumerateFiles(Path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var rel = System.IO.Path.GetRelativePath(Path, file);
            if (rel.StartsWith(".git" + System.IO.Path.DirectorySeparatorChar, StringComparison.Ordinal)) continue;
            sb.Append(rel).Append(' ').AppendLine(Hash(System.IO.File.ReadAllBytes(file)));
        }
        var index = File(".git/index");
        sb.Append("index ").AppendLine(System.IO.File.Exists(index) ? Hash(System.IO.File.ReadAllBytes(index)) : "none");
        sb.Append("HEAD ").AppendLine(System.IO.File.ReadAllText(File(".git/HEAD")).Trim());
        sb.Append("branch ").AppendLine(TryGit("symbolic-ref", "-q", "HEAD") ?? "(detached)");
        sb.Append("head ").AppendLine(TryGit("rev-parse", "-q", "--verify", "HEAD") ?? "(none)");
        sb.Append("stash ").AppendLine(Git("stash", "list"));
        sb.Append("refs ").AppendLine(string.Join(';', Git("for-each-ref", "--format=%(refname) %(objectname)").Split('\n')
            .Where(l => !l.StartsWith("refs/kiln/", StringComparison.Ordinal))));
        return sb.ToString();
    }

    public string? TryGit(params string[] args)
    {
        try { return Git(args); }
        catch (Xunit.Sdk.XunitException) { return null; }
    }

    private static string Hash(byte[] bytes) => Convert.ToHexString(SHA256.HashData(bytes));

    public void Dispose() => _tmp.Dispose();
}

public sealed class GitSnapshotTests
{
    /// <summary>A repository the way people leave it: staged and unstaged changes, new and ignored files, a stash.</summary>
    private static TestRepo BusyRepo()
    {
        var repo = new TestRepo();
        repo.Write("src/model.py", "layers = 3\n");
        repo.Git("stash", "push", "-q", "-m", "older work");
        repo.Write("src/model.py", "layers = 4\n");
        repo.Git("add", "src/model.py");
        repo.Write("src/model.py", "layers = 5  # not staged\n");
        repo.Write("train.py", "print('train harder')\n");
        repo.Write("src/new_loss.py", "def loss(): ...\n");
        repo.Write("run.log", "ignored\n");
        repo.Write("data/big.bin", "ignored too\n");
        System.IO.File.Delete(repo.File(".gitignore"));
        repo.Write(".gitignore", "*.log\ndata/\n");
        return repo;
    }

    [Fact]
    public void A_snapshot_leaves_the_working_tree_index_stash_HEAD_and_branch_byte_identical()
    {
        using var repo = BusyRepo();
        var before = repo.State();
        var snapshot = GitSnapshot.Take(repo.Path, "run-1", "kiln train run-1");
        Assert.Equal(before, repo.State());
        // No temporary index is left behind.
        Assert.DoesNotContain(Directory.EnumerateFiles(repo.File(".git")), f => System.IO.Path.GetFileName(f).StartsWith("kiln-index", StringComparison.Ordinal));

        Assert.Equal("refs/kiln/runs/run-1", snapshot.Ref);
        Assert.Equal("run-1", snapshot.RunId);
        Assert.Equal(snapshot.Commit, repo.Git("rev-parse", "refs/kiln/runs/run-1"));
        Assert.Equal(repo.Git("rev-parse", "HEAD"), snapshot.Head);
        Assert.Equal("main", snapshot.Branch);
        Assert.True(snapshot.Dirty);
        Assert.Equal(snapshot.Head, repo.Git("rev-parse", snapshot.Commit + "^"));
        Assert.Equal("kiln train run-1", repo.Git("log", "-1", "--format=%B", snapshot.Commit));
        // It is a hidden ref: no branch, no stash entry.
        Assert.Equal("* main", repo.Git("branch"));
    }

    [Fact]
    public void The_state_check_sees_what_stashing_and_popping_does_to_a_repository()
    {
        // DVC's way (stash, check out, pop) would fail the test above: the index is rewritten and the stash moves.
        using var repo = BusyRepo();
        var before = repo.State();
        repo.Git("stash", "push", "-q", "-u");
        repo.Git("stash", "pop", "-q", "--index");
        Assert.NotEqual(before, repo.State());
    }

    [Fact]
    public void The_snapshot_holds_the_working_tree_as_it_is_untracked_files_included_and_ignored_ones_left_out()
    {
        using var repo = BusyRepo();
        var snapshot = GitSnapshot.Take(repo.Path, "run-1", "m");
        Assert.Equal([".gitignore", "src/model.py", "src/new_loss.py", "train.py"], repo.Files(snapshot.Commit));
        // The working tree's content, not the staged one.
        Assert.Equal("layers = 5  # not staged", repo.Show(snapshot.Commit, "src/model.py"));
        Assert.Equal("print('train harder')", repo.Show(snapshot.Commit, "train.py"));
        Assert.Equal("def loss(): ...", repo.Show(snapshot.Commit, "src/new_loss.py"));
    }

    [Fact]
    public void A_workspace_s_run_directories_and_caches_stay_out_of_snapshots_even_when_not_ignored()
    {
        using var repo = new TestRepo();
        var ws = new Kiln.Registry.Workspace.WorkspacePaths(repo.File("project"));
        repo.Write("project/kiln.json", "{}\n");
        repo.Write("project/train.py", "code\n");
        repo.Write("project/runs/r1/weights.safetensors", "big\n");
        repo.Write("project/out/log/sweep/trial_000/batch_log.csv", "rows\n");
        repo.Write("project/.kiln/registry.db", "db\n");
        repo.Write("project/outside.py", "kept\n");
        // Given from the workspace root and from a folder below it, with the workspace's own paths.
        foreach (var from in new[] { ws.Root, repo.File("project/runs/r1"), repo.Path })
        {
            var snapshot = GitSnapshot.Take(from, "ws", "m", GitSnapshot.WorkspaceData(ws));
            Assert.Equal([".gitignore", "project/kiln.json", "project/outside.py", "project/train.py", "src/model.py", "train.py"], repo.Files(snapshot.Commit));
        }
        // Folders outside the repository and the repository itself are not exclusions.
        var all = GitSnapshot.Take(ws.Root, "ws2", "m", [repo.Outside, repo.Path, "/"]);
        Assert.Contains("project/runs/r1/weights.safetensors", repo.Files(all.Commit));
    }

    [Fact]
    public void Deleted_files_are_gone_from_the_snapshot()
    {
        using var repo = new TestRepo();
        System.IO.File.Delete(repo.File("train.py"));
        var snapshot = GitSnapshot.Take(repo.Path, "r", "m");
        Assert.Equal([".gitignore", "src/model.py"], repo.Files(snapshot.Commit));
        Assert.True(snapshot.Dirty);
    }

    [Fact]
    public void A_clean_working_tree_is_not_dirty_and_its_snapshot_has_HEAD_s_tree()
    {
        using var repo = new TestRepo();
        repo.Write("debug.log", "ignored files do not make it dirty\n");
        var snapshot = GitSnapshot.Take(repo.Path, "clean", "m");
        Assert.False(snapshot.Dirty);
        Assert.Equal(repo.Git("rev-parse", "HEAD^{tree}"), repo.Git("rev-parse", snapshot.Commit + "^{tree}"));
    }

    [Fact]
    public void An_untracked_file_alone_makes_the_tree_dirty()
    {
        using var repo = new TestRepo();
        repo.Write("notes.txt", "new\n");
        Assert.True(GitSnapshot.Take(repo.Path, "r", "m").Dirty);
    }

    [Fact]
    public void A_detached_HEAD_is_snapshotted_with_no_branch()
    {
        using var repo = new TestRepo();
        repo.Write("train.py", "v2\n");
        repo.Git("commit", "-q", "-am", "second");
        repo.Git("checkout", "-q", "--detach", "HEAD~1");
        repo.Write("train.py", "experiment\n");
        var before = repo.State();
        var snapshot = GitSnapshot.Take(repo.Path, "detached", "m");
        Assert.Equal(before, repo.State());
        Assert.Null(snapshot.Branch);
        Assert.Equal(repo.Git("rev-parse", "HEAD"), snapshot.Head);
        Assert.Equal(snapshot.Head, repo.Git("rev-parse", snapshot.Commit + "^"));
        Assert.Equal("experiment", repo.Show(snapshot.Commit, "train.py"));
    }

    [Fact]
    public void A_file_called_HEAD_does_not_confuse_the_snapshot()
    {
        using var repo = new TestRepo();
        repo.Write("HEAD", "a file\n");
        var snapshot = GitSnapshot.Take(repo.Path, "head-file", "m");
        Assert.Equal(repo.Git("rev-parse", "--verify", "HEAD"), snapshot.Head);
        Assert.Equal("main", snapshot.Branch);
        Assert.Contains("HEAD", repo.Files(snapshot.Commit));
    }

    [Fact]
    public void A_repository_with_no_commits_is_snapshotted_as_a_root_commit()
    {
        using var repo = new TestRepo(commit: false);
        repo.Write("train.py", "first draft\n");
        repo.Write("staged.py", "x = 1\n");
        repo.Git("add", "staged.py");
        var before = repo.State();
        var snapshot = GitSnapshot.Take(repo.Path, "first", "m");
        Assert.Equal(before, repo.State());
        Assert.Null(snapshot.Head);
        Assert.Equal("main", snapshot.Branch);
        Assert.True(snapshot.Dirty);
        Assert.Equal(["staged.py", "train.py"], repo.Files(snapshot.Commit));
        Assert.Equal(snapshot.Commit, repo.Git("rev-list", "--max-parents=0", snapshot.Commit));
        Assert.Null(repo.TryGit("rev-parse", "-q", "--verify", "HEAD"));
    }

    [Fact]
    public void An_empty_repository_gives_an_empty_clean_snapshot()
    {
        using var repo = new TestRepo(commit: false);
        var snapshot = GitSnapshot.Take(repo.Path, "empty", "m");
        Assert.False(snapshot.Dirty);
        Assert.Empty(repo.Files(snapshot.Commit));
    }

    [Fact]
    public void A_snapshot_taken_from_a_subfolder_holds_the_whole_repository()
    {
        using var repo = new TestRepo();
        repo.Write("train.py", "changed at the top\n");
        repo.Write("src/deep/er/new.py", "n\n");
        var snapshot = GitSnapshot.Take(repo.File("src/deep"), "sub", "m");
        Assert.Equal([".gitignore", "src/deep/er/new.py", "src/model.py", "train.py"], repo.Files(snapshot.Commit));
        Assert.Equal("changed at the top", repo.Show(snapshot.Commit, "train.py"));
    }

    [Fact]
    public void File_names_with_spaces_and_unicode_are_kept()
    {
        using var repo = new TestRepo("répo avec espace");
        repo.Write("données d'entrée/époque 1.py", "é\n");
        repo.Write("模型 v2.py", "m\n");
        repo.Git("add", "模型 v2.py");
        repo.Git("commit", "-q", "-m", "unicode");
        repo.Write("模型 v2.py", "m changed\n");
        var before = repo.State();
        var snapshot = GitSnapshot.Take(repo.Path, "unicode", "message with ünïcode");
        Assert.Equal(before, repo.State());
        Assert.Contains("données d'entrée/époque 1.py", repo.Files(snapshot.Commit));
        Assert.Equal("m changed", repo.Show(snapshot.Commit, "模型 v2.py"));
    }

    [Fact]
    public void A_folder_outside_any_repository_is_named_in_a_clear_error()
    {
        using var tmp = new TempDir("nogit");
        var ex = Assert.Throws<GitException>(() => GitSnapshot.Take(tmp.Path, "r", "m"));
        Assert.Equal(GitFailure.NotARepository, ex.Failure);
        Assert.Equal($"not a git repository: {tmp.Path} (kiln train records runs without a code snapshot there; `git init` to have them)", ex.Message);
    }

    [Fact]
    public void A_bare_repository_or_a_missing_folder_is_refused_clearly()
    {
        using var tmp = new TempDir("bare");
        TestRepo.GitIn(tmp.Path, "init", "-q", "--bare", "b.git");
        var bare = Assert.Throws<GitException>(() => GitSnapshot.Take(Path.Combine(tmp.Path, "b.git"), "r", "m"));
        Assert.Equal(GitFailure.NotARepository, bare.Failure);
        Assert.Contains("not in a git working tree", bare.Message, StringComparison.Ordinal);
        var missing = Assert.Throws<GitException>(() => GitSnapshot.Take(Path.Combine(tmp.Path, "nope"), "r", "m"));
        Assert.Contains("no such folder", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_git_the_error_says_git_is_not_installed()
    {
        using var repo = new TestRepo();
        var ex = Assert.Throws<GitException>(() =>
            GitSnapshot.Take(new GitRunner("/nonexistent/bin/git"), repo.Path, "r", "m", IndexSeed.CopyIndex));
        Assert.Equal(GitFailure.GitMissing, ex.Failure);
        Assert.StartsWith("git is not installed", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_a_configured_identity_snapshots_are_made_by_Kiln()
    {
        using var repo = new TestRepo();
        using var home = new TempDir("home");
        var isolated = new GitRunner("git", new Dictionary<string, string?>
        {
            ["HOME"] = home.Path, ["XDG_CONFIG_HOME"] = home.Path, ["GIT_CONFIG_NOSYSTEM"] = "1", ["GIT_CONFIG_GLOBAL"] = "/dev/null",
            ["GIT_AUTHOR_NAME"] = null, ["GIT_AUTHOR_EMAIL"] = null, ["GIT_COMMITTER_NAME"] = null, ["GIT_COMMITTER_EMAIL"] = null, ["EMAIL"] = null,
        });
        repo.Write("train.py", "x\n");
        var snapshot = GitSnapshot.Take(isolated, repo.Path, "anon", "m", IndexSeed.CopyIndex);
        Assert.Equal("Kiln <kiln@localhost> Kiln <kiln@localhost>", repo.Git("log", "-1", "--format=%an <%ae> %cn <%ce>", snapshot.Commit));

        repo.Git("config", "user.name", "Ada");
        repo.Git("config", "user.email", "ada@example.org");
        var mine = GitSnapshot.Take(isolated, repo.Path, "ada", "m", IndexSeed.CopyIndex);
        Assert.Equal("Ada <ada@example.org>", repo.Git("log", "-1", "--format=%an <%ae>", mine.Commit));
    }

    [Fact]
    public void Files_marked_assume_unchanged_or_skip_worktree_are_snapshotted_as_they_are_on_disk()
    {
        using var repo = new TestRepo();
        repo.Git("update-index", "--assume-unchanged", "train.py");
        repo.Git("update-index", "--skip-worktree", "src/model.py");
        repo.Write("train.py", "local edit git was told to overlook\n");
        repo.Write("src/model.py", "layers = 99\n");
        var before = repo.State();
        var snapshot = GitSnapshot.Take(repo.Path, "flags", "m");
        Assert.Equal(before, repo.State());
        Assert.Equal("local edit git was told to overlook", repo.Show(snapshot.Commit, "train.py"));
        Assert.Equal("layers = 99", repo.Show(snapshot.Commit, "src/model.py"));
        Assert.True(snapshot.Dirty);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void The_index_reader_finds_marked_entries_in_every_index_version(int version)
    {
        using var repo = new TestRepo();
        for (var i = 0; i < 40; i++) repo.Write($"src/pkg/deeper/module_{i:000}_with_a_long_name.py", $"{i}\n");
        repo.Git("add", "-A");
        repo.Git("commit", "-q", "-m", "more");
        repo.Git("update-index", "--index-version", version.ToString(System.Globalization.CultureInfo.InvariantCulture));
        bool Marked() => IndexFile.MayHaveOverlookedEntries(File.ReadAllBytes(repo.File(".git/index")));
        Assert.False(Marked());
        repo.Git("update-index", "--assume-unchanged", "src/pkg/deeper/module_017_with_a_long_name.py");
        Assert.True(Marked());
        repo.Git("update-index", "--no-assume-unchanged", "src/pkg/deeper/module_017_with_a_long_name.py");
        repo.Git("update-index", "--skip-worktree", "src/pkg/deeper/module_039_with_a_long_name.py");
        Assert.True(Marked());
        repo.Git("update-index", "--no-skip-worktree", "src/pkg/deeper/module_039_with_a_long_name.py");
        Assert.False(Marked());
        Assert.True(IndexFile.MayHaveOverlookedEntries("DIRC\0\0\0\u0002\0\0\0\u0005"u8));
        Assert.True(IndexFile.MayHaveOverlookedEntries([]));
    }

    [Fact]
    public void A_sparse_checkout_s_absent_files_stay_in_the_snapshot()
    {
        using var repo = new TestRepo();
        repo.Git("update-index", "--skip-worktree", "src/model.py");
        System.IO.File.Delete(repo.File("src/model.py"));
        var snapshot = GitSnapshot.Take(repo.Path, "sparse", "m");
        Assert.Equal("layers = 2", repo.Show(snapshot.Commit, "src/model.py"));
        Assert.False(snapshot.Dirty);
    }

    [Fact]
    public void Both_ways_of_seeding_the_temporary_index_give_the_same_tree()
    {
        using var repo = BusyRepo();
        var before = repo.State();
        var copied = GitSnapshot.Take(GitRunner.Default, repo.Path, "a", "m", IndexSeed.CopyIndex);
        var read = GitSnapshot.Take(GitRunner.Default, repo.Path, "b", "m", IndexSeed.ReadTree);
        Assert.Equal(before, repo.State());
        Assert.Equal(repo.Git("rev-parse", copied.Commit + "^{tree}"), repo.Git("rev-parse", read.Commit + "^{tree}"));
    }

    [Fact]
    public void A_linked_worktree_is_snapshotted_with_its_own_index_and_the_main_one_is_untouched()
    {
        using var repo = new TestRepo();
        var wt = Path.Combine(repo.Outside, "wt");
        repo.Git("worktree", "add", "-q", "-b", "feature", wt);
        File.WriteAllText(Path.Combine(wt, "train.py"), "feature work\n");
        var mainIndex = File.ReadAllBytes(repo.File(".git/index"));
        var wtIndex = File.ReadAllBytes(repo.File(".git/worktrees/wt/index"));
        var snapshot = GitSnapshot.Take(wt, "in-wt", "m");
        Assert.Equal(mainIndex, File.ReadAllBytes(repo.File(".git/index")));
        Assert.Equal(wtIndex, File.ReadAllBytes(repo.File(".git/worktrees/wt/index")));
        Assert.Equal("feature", snapshot.Branch);
        Assert.Equal("feature work", repo.Show(snapshot.Commit, "train.py"));
        Assert.Equal(snapshot.Commit, repo.Git("rev-parse", "refs/kiln/runs/in-wt"));
    }

    [Fact]
    public void Taking_a_run_s_snapshot_again_moves_its_ref()
    {
        using var repo = new TestRepo();
        var first = GitSnapshot.Take(repo.Path, "again", "m");
        repo.Write("train.py", "second attempt\n");
        var second = GitSnapshot.Take(repo.Path, "again", "m");
        Assert.NotEqual(first.Commit, second.Commit);
        Assert.Equal(second.Commit, repo.Git("rev-parse", "refs/kiln/runs/again"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("a b")]
    [InlineData("a..b")]
    [InlineData(".hidden")]
    [InlineData("x.lock")]
    [InlineData("a//b")]
    [InlineData("a:b")]
    [InlineData("end.")]
    [InlineData("at@{1}")]
    public void Run_ids_git_cannot_name_are_refused_before_anything_is_written(string id)
    {
        using var repo = new TestRepo();
        var ex = Assert.Throws<GitException>(() => GitSnapshot.Take(repo.Path, id, "m"));
        Assert.Equal(GitFailure.Refused, ex.Failure);
        Assert.Contains("cannot name a git ref", ex.Message, StringComparison.Ordinal);
        Assert.Equal("", repo.Git("for-each-ref", "refs/kiln/"));
    }

    [Theory]
    [InlineData("20250101-120000-ab12")]
    [InlineData("sweep/trial_000")]
    [InlineData("run_1.2")]
    public void Ordinary_run_ids_name_refs(string id) => Assert.Equal("refs/kiln/runs/" + id, GitSnapshot.RefFor(id));

    [Fact]
    public void The_snapshot_file_round_trips_and_a_bad_one_names_the_field()
    {
        using var tmp = new TempDir("snapfile");
        var run = Path.Combine(tmp.Path, "runs", "r1");
        var snapshot = new Snapshot(new string('a', 40), "refs/kiln/runs/r1", null, "main", Dirty: true);
        GitSnapshot.RefFor("r1");
        SnapshotFile.Write(run, snapshot);
        Assert.Equal(RunFiles.Snapshot, Path.GetFileName(SnapshotFile.PathIn(run)));
        Assert.Equal(snapshot, SnapshotFile.Read(run));
        var json = File.ReadAllText(Path.Combine(run, "kiln.snapshot.json"));
        Assert.Contains("\"head\": null", json, StringComparison.Ordinal);
        Assert.Null(SnapshotFile.Read(Path.Combine(tmp.Path, "runs", "none")));

        File.WriteAllText(Path.Combine(run, "kiln.snapshot.json"), "{\"ref\": \"refs/kiln/runs/r1\"}");
        var missing = Assert.Throws<ProtocolException>(() => SnapshotFile.Read(run));
        Assert.Contains("commit: missing", missing.Message, StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(run, "kiln.snapshot.json"), "{\"commit\": ");
        Assert.Contains("invalid JSON", Assert.Throws<ProtocolException>(() => SnapshotFile.Read(run)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Record_takes_the_snapshot_and_writes_it_into_the_run_directory()
    {
        using var repo = new TestRepo();
        var run = repo.File("runs/r7");
        var snapshot = GitSnapshot.Record(repo.Path, run, "r7", "kiln train r7");
        Assert.Equal(snapshot, SnapshotFile.Read(run));
        // The run directory is untracked: it is in the snapshot's tree only if it existed before; here it did not.
        Assert.DoesNotContain("runs/r7/kiln.snapshot.json", repo.Files(snapshot.Commit));
    }
}
