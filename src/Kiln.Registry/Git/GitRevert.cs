using Kiln.Execution.Jobs;

namespace Kiln.Registry.Git;

/// <summary>Where a run's code was put back, and how to return from it.</summary>
/// <param name="Path">The working tree that now holds the snapshot's files.</param>
/// <param name="Commit">The snapshot commit checked out there (detached).</param>
/// <param name="InPlace">Whether it was checked out in the user's own working tree rather than a new worktree.</param>
/// <param name="GoBack">The command that returns: <c>git switch &lt;branch&gt;</c>, or <c>git worktree remove &lt;path&gt;</c> for a worktree.</param>
public sealed record RevertResult(string Path, string Commit, bool InPlace, string GoBack);

/// <summary>
/// Puts a run's code back. By default into a new detached worktree beside the repository, which leaves the user's
/// working tree alone; in place only when the working tree is clean, so nothing is ever clobbered.
/// </summary>
public static class GitRevert
{
    /// <summary>How many changed files a refusal lists.</summary>
    public const int ListedChanges = 10;

    /// <summary>
    /// Materialises <paramref name="snapshot"/> with <c>git worktree add --detach</c> at <paramref name="path"/>, by
    /// default <c>&lt;repo&gt;/../&lt;repo name&gt;-kiln-&lt;run id&gt;</c>. An existing, non-empty path is refused.
    /// </summary>
    public static RevertResult ToWorktree(string workTree, Snapshot snapshot, string? path = null) =>
        ToWorktree(GitRunner.Default, workTree, snapshot, path);

    /// <summary>
    /// Checks <paramref name="snapshot"/> out in the user's own working tree, detached — only when it is clean (no
    /// changes, no untracked non-ignored files, outside the folders in <paramref name="exclude"/>: a workspace's run
    /// directories, which a checkout leaves alone) and no ignored file stands where the snapshot puts one; otherwise it
    /// refuses, listing what is in the way.
    /// </summary>
    public static RevertResult InPlace(string workTree, Snapshot snapshot, IReadOnlyList<string>? exclude = null) =>
        InPlace(GitRunner.Default, workTree, snapshot, exclude);

    /// <summary>The folder <see cref="ToWorktree(string, Snapshot, string?)"/> uses when none is given.</summary>
    public static string DefaultWorktreePath(string repoTopLevel, string runId)
    {
        var top = Path.TrimEndingDirectorySeparator(Path.GetFullPath(repoTopLevel));
        var parent = Path.GetDirectoryName(top) ?? top;
        return Path.Combine(parent, $"{Path.GetFileName(top)}-kiln-{runId.Replace('/', '-')}");
    }

    internal static RevertResult ToWorktree(GitRunner git, string workTree, Snapshot snapshot, string? path)
    {
        var repo = GitRepository.Open(workTree, git);
        var commit = Commit(repo, snapshot);
        var target = Path.GetFullPath(path ?? DefaultWorktreePath(repo.TopLevel, snapshot.RunId));
        if (File.Exists(target)) throw new GitException(GitFailure.Refused, $"{target} is a file; give another --path");
        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any())
            throw new GitException(GitFailure.Refused, $"{target} exists and is not empty; give another --path or remove it");
        git.Check(repo.TopLevel, ["worktree", "add", "--detach", "--end-of-options", target, commit]);
        return new RevertResult(target, commit, InPlace: false, $"git worktree remove {ShellWord.Quote(target)}");
    }

    internal static RevertResult InPlace(GitRunner git, string workTree, Snapshot snapshot, IReadOnlyList<string>? exclude)
    {
        var repo = GitRepository.Open(workTree, git);
        var commit = Commit(repo, snapshot);
        var changes = repo.Changes(exclude);
        if (changes.Count > 0)
        {
            throw new GitException(GitFailure.Refused,
                $"the working tree has {Count(changes.Count, "change")}, so the snapshot is not checked out in place " +
                $"(commit or stash them, or leave --in-place out to get a separate worktree): {List(changes)}");
        }
        // Checkout overwrites ignored files it finds where it writes: the snapshot's files that HEAD does not track and
        // that are on disk now are ignored files (the tree is clean), and would be lost.
        var (head, _) = repo.Head();
        if (head is not null)
        {
            var added = git.Check(repo.TopLevel, ["diff", "--name-only", "--no-renames", "--diff-filter=A", "-z", head, commit]).Stdout
                .Split('\0', StringSplitOptions.RemoveEmptyEntries)
                .Where(p => Path.Exists(Path.Combine(repo.TopLevel, p)))
                .ToList();
            if (added.Count > 0)
            {
                throw new GitException(GitFailure.Refused,
                    $"ignored files stand where the snapshot puts its own ({List(added)}), so it is not checked out in place " +
                    "(move them, or leave --in-place out to get a separate worktree)");
            }
        }
        var branch = repo.Branch();
        git.Check(repo.TopLevel, ["checkout", "-q", "--detach", commit]);
        var back = branch is not null && head is not null ? $"git switch {ShellWord.Quote(branch)}"
            : head is not null ? $"git switch --detach {head}"
            : branch is not null ? $"git switch --orphan {ShellWord.Quote(branch)}" : "git switch -";
        return new RevertResult(repo.TopLevel, commit, InPlace: true, back);
    }

    /// <summary>The snapshot's commit, checked to be in this repository.</summary>
    internal static string Commit(GitRepository repo, Snapshot snapshot) =>
        repo.ResolveCommit(snapshot.Commit) ?? throw new GitException(GitFailure.Refused,
            $"run {snapshot.RunId}'s snapshot {snapshot.Commit} is not in the repository at {repo.TopLevel} (was it taken in another clone? fetch {snapshot.Ref} from it)");

    private static string List(IReadOnlyList<string> items) =>
        string.Join(", ", items.Take(ListedChanges)) + (items.Count > ListedChanges ? $", and {items.Count - ListedChanges} more" : "");

    private static string Count(int n, string what) => n == 1 ? $"1 {what}" : $"{n} {what}s";
}
