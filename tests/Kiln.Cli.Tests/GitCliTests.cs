using System.Text.Json.Nodes;
using Kiln.Registry.Git;
using Kiln.Registry.Workspace;
using Kiln.Testing;

namespace Kiln.Cli.Tests;

/// <summary>
/// <c>kiln revert</c> and <c>kiln diff</c> as a user runs them: a workspace in a git repository, runs whose code was
/// snapshotted as <c>kiln train</c> does it, then the published kiln.
/// </summary>
public sealed class GitCliTests
{
    private static string Git(string dir, params string[] args) => GitCommand.Run(dir, args);

    /// <summary>A workspace at the root of a repository with one commit, and its paths.</summary>
    private static WorkspacePaths Workspace(TempDir tmp)
    {
        var root = tmp.Sub("project");
        Git(root, "init", "-q", "-b", "main");
        File.WriteAllText(Path.Combine(root, "kiln.json"), "{}\n");
        File.WriteAllText(Path.Combine(root, "train.py"), "lr = 0.1\n");
        File.WriteAllText(Path.Combine(root, ".gitignore"), "*.log\n");
        Git(root, "add", "-A");
        Git(root, "commit", "-q", "-m", "first");
        return new WorkspacePaths(root);
    }

    /// <summary>What <c>kiln train</c> does before a run: the code snapshot, recorded in the run directory, and the params.</summary>
    private static Snapshot Train(WorkspacePaths ws, string id, string? paramsJson = null)
    {
        var runDir = Path.Combine(ws.Runs, id);
        var snapshot = GitSnapshot.Record(ws.Root, runDir, id, $"kiln train {id}", GitSnapshot.WorkspaceData(ws));
        if (paramsJson is not null) File.WriteAllText(Path.Combine(runDir, "kiln.params.json"), paramsJson);
        return snapshot;
    }

    [Fact]
    public void Revert_puts_a_run_s_code_in_a_new_worktree_and_leaves_the_user_s_work_alone()
    {
        using var tmp = new TempDir("revert");
        var ws = Workspace(tmp);
        File.WriteAllText(Path.Combine(ws.Root, "train.py"), "lr = 0.2  # what r1 ran\n");
        File.WriteAllText(Path.Combine(ws.Root, "aug.py"), "flip = True\n");
        var snapshot = Train(ws, "r1");
        File.WriteAllText(Path.Combine(ws.Root, "train.py"), "lr = 0.5  # edited since\n");
        var status = Git(ws.Root, "status", "--porcelain");
        var index = File.ReadAllBytes(Path.Combine(ws.Root, ".git", "index"));

        var r = KilnProcess.Run(Path.Combine(ws.Root, "runs"), "revert", "r1");
        Assert.True(r.ExitCode == 0, r.ToString());
        var target = Path.Combine(tmp.Path, "project-kiln-r1");
        Assert.Contains($"run r1's code (commit {snapshot.Commit[..12]}, from main with uncommitted changes) is in {target}", r.Stdout, StringComparison.Ordinal);
        Assert.Contains($"git worktree remove {target}", r.Stdout, StringComparison.Ordinal);
        Assert.Equal("lr = 0.2  # what r1 ran\n", File.ReadAllText(Path.Combine(target, "train.py")));
        Assert.Equal("flip = True\n", File.ReadAllText(Path.Combine(target, "aug.py")));
        Assert.False(Directory.Exists(Path.Combine(target, "runs")));
        Assert.Equal(status, Git(ws.Root, "status", "--porcelain"));
        Assert.Equal(index, File.ReadAllBytes(Path.Combine(ws.Root, ".git", "index")));
        Assert.Equal("lr = 0.5  # edited since\n", File.ReadAllText(Path.Combine(ws.Root, "train.py")));

        var again = KilnProcess.Run(ws.Root, "revert", "r1");
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("exists and is not empty", again.Stderr, StringComparison.Ordinal);

        var json = KilnProcess.Run(ws.Root, "revert", "r1", "--path", "../elsewhere", "--json");
        Assert.True(json.ExitCode == 0, json.ToString());
        var o = JsonNode.Parse(json.Stdout)!;
        Assert.Equal(Path.Combine(tmp.Path, "elsewhere"), (string?)o["path"]);
        Assert.Equal(snapshot.Commit, (string?)o["snapshot"]!["commit"]);
        Assert.False((bool)o["in_place"]!);
    }

    [Fact]
    public void Revert_in_place_refuses_a_dirty_tree_and_checks_out_on_a_clean_one()
    {
        using var tmp = new TempDir("revert");
        var ws = Workspace(tmp);
        File.WriteAllText(Path.Combine(ws.Root, "train.py"), "lr = 0.3\n");
        var snapshot = Train(ws, "r1");

        var refused = KilnProcess.Run(ws.Root, "revert", "r1", "--in-place");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("1 change, so the snapshot is not checked out in place", refused.Stderr, StringComparison.Ordinal);
        Assert.Contains("M train.py", refused.Stderr, StringComparison.Ordinal);
        Assert.Equal("lr = 0.3\n", File.ReadAllText(Path.Combine(ws.Root, "train.py")));

        Git(ws.Root, "commit", "-q", "-am", "later work");
        File.WriteAllText(Path.Combine(ws.Root, "train.py"), "lr = 0.9\n");
        Git(ws.Root, "commit", "-q", "-am", "even later");
        // The run directories, untracked, do not make the tree dirty: a checkout leaves them alone.
        var r = KilnProcess.Run(ws.Root, "revert", "r1", "--in-place");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("back with: git switch main", r.Stdout, StringComparison.Ordinal);
        Assert.Equal(snapshot.Commit, Git(ws.Root, "rev-parse", "HEAD"));
        Assert.Equal("lr = 0.3\n", File.ReadAllText(Path.Combine(ws.Root, "train.py")));
        Assert.True(File.Exists(Path.Combine(ws.Runs, "r1", "kiln.snapshot.json")));

        Assert.Equal(2, KilnProcess.Run(ws.Root, "revert", "r1", "--in-place", "--path", "x").ExitCode);
    }

    [Fact]
    public void Diff_shows_code_and_params_between_two_runs_and_code_since_a_run()
    {
        using var tmp = new TempDir("diff");
        var ws = Workspace(tmp);
        Train(ws, "r1", """{"lr": 0.1, "epochs": 5, "seed": 1}""");
        File.WriteAllText(Path.Combine(ws.Root, "train.py"), "lr = 0.01\nwarmup = 100\n");
        File.WriteAllText(Path.Combine(ws.Root, "sched.py"), "cosine = True\n");
        var r2 = Train(ws, "r2", """{"lr": 0.01, "epochs": 5, "warmup": 100}""");

        var r = KilnProcess.Run(ws.Root, "diff", "r1", "r2");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("code: run r1 (", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("2 files changed", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("  + warmup = 100", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("  - seed = 1", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("  ~ lr: 0.1 -> 0.01", r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("epochs", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("+warmup = 100", r.Stdout, StringComparison.Ordinal);

        var stat = KilnProcess.Run(ws.Root, "diff", "r1", "r2", "--stat");
        Assert.Contains("sched.py", stat.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("+warmup", stat.Stdout, StringComparison.Ordinal);

        var json = JsonNode.Parse(KilnProcess.Run(ws.Root, "diff", "r1", "r2", "--json").Stdout)!;
        Assert.Equal(r2.Commit, (string?)json["to"]!["commit"]);
        Assert.Equal(["sched.py", "train.py"], json["files"]!.AsArray().Select(f => (string?)f!["path"]));
        Assert.Contains("+cosine = True", (string?)json["patch"], StringComparison.Ordinal);
        Assert.Equal(0.01, (double)json["params"]!["changed"]!["lr"]!["to"]!);

        // Since r2: a new file and an edit; the run directories are not code.
        File.WriteAllText(Path.Combine(ws.Root, "train.py"), "lr = 0.02\n");
        File.WriteAllText(Path.Combine(ws.Root, "notes.md"), "try 0.02\n");
        var since = KilnProcess.Run(ws.Root, "diff", "r2");
        Assert.True(since.ExitCode == 0, since.ToString());
        Assert.Contains("-> the working tree", since.Stdout, StringComparison.Ordinal);
        Assert.Contains("notes.md", since.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("runs/", since.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("params:", since.Stdout, StringComparison.Ordinal);

        var same = KilnProcess.Run(ws.Root, "diff", "r2", "r2");
        Assert.Contains("  no changes", same.Stdout, StringComparison.Ordinal);
        Assert.Contains("  the same", same.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Both_commands_have_help_and_are_listed()
    {
        using var tmp = new TempDir("help");
        foreach (var cmd in new[] { "revert", "diff" })
        {
            var r = KilnProcess.Run(tmp.Path, cmd, "--help");
            Assert.True(r.ExitCode == 0, cmd + ": " + r);
            Assert.Contains("snapshot", r.Stdout, StringComparison.Ordinal);
        }
        var all = KilnProcess.Run(tmp.Path, "--help").Stdout;
        Assert.Contains("revert <id>", all, StringComparison.Ordinal);
        Assert.Contains("diff <id>", all, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_runs_and_folders_outside_any_repository_get_one_clear_error()
    {
        using var tmp = new TempDir("diff");
        var ws = Workspace(tmp);
        var unknown = KilnProcess.Run(ws.Root, "diff", "nope");
        Assert.Equal(1, unknown.ExitCode);
        Assert.Equal($"kiln: error: no run nope with a code snapshot under {ws.Root} (looked for runs/nope/kiln.snapshot.json)", unknown.Stderr.Trim());

        var outside = tmp.Sub("elsewhere");
        var r = KilnProcess.Run(outside, "revert", "r1");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("no kiln workspace (kiln.json) or git repository at or above", r.Stderr, StringComparison.Ordinal);
        Assert.Equal("", r.Stdout);
    }
}
