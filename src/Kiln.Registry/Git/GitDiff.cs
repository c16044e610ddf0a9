using System.Globalization;

namespace Kiln.Registry.Git;

/// <summary>One file a diff touches: lines added and deleted (null for a binary file).</summary>
public sealed record FileChange(string Path, int? Added, int? Deleted);

/// <summary>What changed in code between two commits or trees: <c>git diff --stat</c>, the full patch, and the files.</summary>
/// <param name="From">The commit compared from.</param>
/// <param name="To">The commit compared to, or the tree of the working tree (<see cref="ToWorkingTree"/>).</param>
public sealed record CodeDiff(string From, string To, bool ToWorkingTree, string Stat, string Patch, IReadOnlyList<FileChange> Files)
{
    public bool IsEmpty => Files.Count == 0;
}

/// <summary>
/// What changed in code between two snapshots, or between a snapshot and the working tree as it is now (written as a
/// tree through a temporary index, like a snapshot, so the user's index is never touched).
/// </summary>
public static class GitDiff
{
    /// <summary>The changes from snapshot <paramref name="from"/> to snapshot <paramref name="to"/>.</summary>
    public static CodeDiff Between(string workTree, Snapshot from, Snapshot to) => Between(GitRunner.Default, workTree, from, to);

    /// <summary>
    /// The changes from <paramref name="from"/> to the working tree (tracked changes and untracked, non-ignored files),
    /// leaving out the folders in <paramref name="exclude"/> as a snapshot does.
    /// </summary>
    public static CodeDiff AgainstWorkingTree(string workTree, Snapshot from, IReadOnlyList<string>? exclude = null) =>
        AgainstWorkingTree(GitRunner.Default, workTree, from, exclude);

    internal static CodeDiff Between(GitRunner git, string workTree, Snapshot from, Snapshot to)
    {
        var repo = GitRepository.Open(workTree, git);
        return Diff(repo, GitRevert.Commit(repo, from), GitRevert.Commit(repo, to), toWorkingTree: false);
    }

    internal static CodeDiff AgainstWorkingTree(GitRunner git, string workTree, Snapshot from, IReadOnlyList<string>? exclude)
    {
        var repo = GitRepository.Open(workTree, git);
        var commit = GitRevert.Commit(repo, from);
        var tree = WorkingTree.WriteTree(repo, repo.Head().Commit is not null, exclude);
        return Diff(repo, commit, tree, toWorkingTree: true);
    }

    private static CodeDiff Diff(GitRepository repo, string from, string to, bool toWorkingTree)
    {
        // Paths as they are (no octal quoting of non-ASCII names), no colour, no external diff drivers or textconv.
        string[] common = ["-c", "core.quotepath=off", "diff", "--no-color", "--no-ext-diff", "--no-textconv"];
        var stat = repo.Git.Check(repo.TopLevel, [.. common, "--stat=200", from, to]).Stdout;
        var patch = repo.Git.Check(repo.TopLevel, [.. common, "--patch", from, to]).Stdout;
        var numstat = repo.Git.Check(repo.TopLevel, [.. common, "--numstat", "--no-renames", "-z", from, to]).Stdout;
        return new CodeDiff(from, to, toWorkingTree, stat, patch, ParseNumstat(numstat));
    }

    /// <summary>Reads <c>--numstat -z</c> (without renames): <c>added\tdeleted\tpath\0</c>, with <c>-</c> counts for binary files.</summary>
    internal static IReadOnlyList<FileChange> ParseNumstat(string text)
    {
        var files = new List<FileChange>();
        foreach (var entry in text.Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = entry.TrimStart('\n').Split('\t', 3);
            if (parts.Length < 3) continue;
            files.Add(new FileChange(parts[2], Count(parts[0]), Count(parts[1])));
        }
        return files;
    }

    private static int? Count(string text) => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;
}
