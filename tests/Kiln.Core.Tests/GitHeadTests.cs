using System.Diagnostics;
using Kiln.Runs;
using Kiln.Testing;

namespace Kiln.Core.Tests;

/// <summary>The commit a run records, read from a real repository's files and checked against git itself.</summary>
public sealed class GitHeadTests
{
    private static string Git(string dir, params string[] args)
    {
        var info = new ProcessStartInfo("git") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["GIT_AUTHOR_NAME"] = info.Environment["GIT_COMMITTER_NAME"] = "kiln";
        info.Environment["GIT_AUTHOR_EMAIL"] = info.Environment["GIT_COMMITTER_EMAIL"] = "kiln@example.org";
        using var p = Process.Start(info)!;
        var output = p.StandardOutput.ReadToEnd();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"git {string.Join(' ', args)}: {error}");
        return output.Trim();
    }

    private static string Repo(TempDir tmp)
    {
        var repo = tmp.Sub("repo");
        Git(repo, "init", "-q", "-b", "main");
        File.WriteAllText(Path.Combine(repo, "a.txt"), "a");
        Git(repo, "add", "a.txt");
        Git(repo, "commit", "-q", "-m", "first");
        return repo;
    }

    [Fact]
    public void The_checked_out_commit_is_git_s_own_answer_from_any_folder_of_the_repository()
    {
        using var tmp = new TempDir("git");
        var repo = Repo(tmp);
        var sub = Directory.CreateDirectory(Path.Combine(repo, "runs", "x")).FullName;
        Assert.Equal(Git(repo, "rev-parse", "HEAD"), GitHead.Of(sub));
    }

    [Fact]
    public void Packed_refs_detached_heads_and_worktrees_are_followed()
    {
        using var tmp = new TempDir("git");
        var repo = Repo(tmp);
        Git(repo, "pack-refs", "--all");
        Assert.Equal(Git(repo, "rev-parse", "HEAD"), GitHead.Of(repo));

        File.WriteAllText(Path.Combine(repo, "b.txt"), "b");
        Git(repo, "add", "b.txt");
        Git(repo, "commit", "-q", "-m", "second");
        var second = Git(repo, "rev-parse", "HEAD");
        Git(repo, "checkout", "-q", "--detach", "HEAD~1");
        Assert.Equal(Git(repo, "rev-parse", "HEAD"), GitHead.Of(repo));

        var worktree = Path.Combine(tmp.Path, "wt");
        Git(repo, "worktree", "add", "-q", worktree, "main");
        Assert.Equal(second, GitHead.Of(worktree));
    }

    [Fact]
    public void Outside_a_repository_or_before_the_first_commit_there_is_no_commit()
    {
        using var tmp = new TempDir("git");
        Assert.Null(GitHead.Of(tmp.Sub("plain")));
        var empty = tmp.Sub("empty");
        Git(empty, "init", "-q");
        Assert.Null(GitHead.Of(empty));
    }
}
