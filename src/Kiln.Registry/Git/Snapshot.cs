namespace Kiln.Registry.Git;

/// <summary>
/// A run's code snapshot: a commit of the whole working tree (tracked changes and untracked, non-ignored files) kept
/// by the hidden ref <c>refs/kiln/runs/&lt;run id&gt;</c>, and what the user had checked out when it was taken.
/// </summary>
/// <param name="Commit">The snapshot commit (its parent is <paramref name="Head"/>, when there is one).</param>
/// <param name="Ref">The ref that keeps it: <c>refs/kiln/runs/&lt;run id&gt;</c>.</param>
/// <param name="Head">The commit checked out, or null in a repository with no commits yet.</param>
/// <param name="Branch">The branch checked out (short name), or null on a detached HEAD.</param>
/// <param name="Dirty">Whether the working tree differed from HEAD (untracked, non-ignored files count).</param>
public sealed record Snapshot(string Commit, string Ref, string? Head, string? Branch, bool Dirty)
{
    public const string RefPrefix = "refs/kiln/runs/";

    /// <summary>The run id the ref names (the whole ref when it is not a run ref).</summary>
    public string RunId => Ref.StartsWith(RefPrefix, StringComparison.Ordinal) ? Ref[RefPrefix.Length..] : Ref;
}
