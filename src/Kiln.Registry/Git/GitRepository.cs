namespace Kiln.Registry.Git;

/// <summary>
/// The repository holding a folder, as git itself answers it: its top-level folder, its git directory (a linked
/// worktree's own one), and what HEAD is right now.
/// </summary>
internal sealed class GitRepository
{
    private GitRepository(GitRunner git, string topLevel, string gitDir, string folder, string prefix)
    {
        Git = git;
        TopLevel = topLevel;
        GitDir = gitDir;
        Folder = folder;
        Prefix = prefix;
    }

    /// <summary>The folder the repository was opened from, as it was given (symbolic links unresolved).</summary>
    public string Folder { get; }

    /// <summary>Where <see cref="Folder"/> is in the working tree: <c>src/deep/</c>, or empty at the top.</summary>
    public string Prefix { get; }

    public GitRunner Git { get; }

    /// <summary>The root of the working tree.</summary>
    public string TopLevel { get; }

    /// <summary>The git directory of this working tree (<c>.git</c>, or <c>.git/worktrees/&lt;name&gt;</c> in a linked worktree).</summary>
    public string GitDir { get; }

    /// <summary>The user's index of this working tree.</summary>
    public string IndexPath => Path.Combine(GitDir, "index");

    /// <summary>
    /// The repository whose working tree holds <paramref name="folder"/>. Throws a <see cref="GitException"/> that says so
    /// when the folder is in no repository, in a bare one, or when git is missing.
    /// </summary>
    public static GitRepository Open(string folder, GitRunner? git = null)
    {
        git ??= GitRunner.Default;
        var dir = Path.GetFullPath(folder);
        if (!Directory.Exists(dir)) throw new GitException(GitFailure.Refused, $"no such folder: {dir}");
        string[] args = ["rev-parse", "--absolute-git-dir", "--is-inside-work-tree", "--show-toplevel", "--show-prefix"];
        var r = git.Run(dir, args);
        var lines = r.Stdout.Split('\n');
        // Inside a git directory or a bare repository there is a git directory but no working tree to snapshot.
        if (lines.Length >= 2 && lines[1] == "false")
            throw new GitException(GitFailure.NotARepository, $"not in a git working tree: {dir} (a bare repository or a git directory has no files to snapshot)");
        if (!r.Ok)
        {
            if (r.Stderr.Contains("not a git repository", StringComparison.OrdinalIgnoreCase)) throw NotARepository(dir);
            throw GitRunner.Failed(args, r);
        }
        if (lines.Length < 4) throw GitRunner.Failed(args, r);
        return new GitRepository(git, Path.GetFullPath(lines[2]), Path.GetFullPath(lines[0]), dir, lines[3]);
    }

    /// <summary>
    /// The repository holding <paramref name="folder"/> with what HEAD is — commit, tree, branch — asked of git in one
    /// process when HEAD has a commit (the common case a snapshot starts from), in three otherwise.
    /// </summary>
    public static (GitRepository Repo, string? Head, string? HeadTree, string? Branch) OpenAtHead(string folder, GitRunner? git = null)
    {
        git ??= GitRunner.Default;
        var dir = Path.GetFullPath(folder);
        if (Directory.Exists(dir))
        {
            // "--" makes every word before it a revision, even when a file is called HEAD.
            var r = git.Run(dir, ["rev-parse", "--absolute-git-dir", "--is-inside-work-tree", "--show-toplevel", "--show-prefix",
                "HEAD", "HEAD^{tree}", "--symbolic-full-name", "HEAD", "--"]);
            var lines = r.Stdout.Split('\n');
            if (r.Ok && lines.Length >= 8 && lines[1] == "true")
            {
                var repo = new GitRepository(git, Path.GetFullPath(lines[2]), Path.GetFullPath(lines[0]), dir, lines[3]);
                var symbolic = lines[6];
                string? branch = symbolic == "HEAD" ? null : symbolic.StartsWith("refs/heads/", StringComparison.Ordinal) ? symbolic["refs/heads/".Length..] : symbolic;
                return (repo, lines[4], lines[5], branch);
            }
        }
        // No commit yet, not a repository, or a folder that is missing: the careful way, which says which.
        var opened = Open(folder, git);
        var (head, tree) = opened.Head();
        return (opened, head, tree, opened.Branch());
    }

    public static GitException NotARepository(string dir) => new(GitFailure.NotARepository,
        $"not a git repository: {dir} (kiln train records runs without a code snapshot there; `git init` to have them)");

    /// <summary>
    /// Where <paramref name="path"/> is in the working tree (<c>runs/a</c>), or null when it is outside it or is its
    /// top. Worked out from <see cref="Folder"/> and <see cref="Prefix"/>, so a path given beside the folder through
    /// the same symbolic links as the folder is placed right.
    /// </summary>
    public string? InTree(string path)
    {
        var rel = Path.GetRelativePath(Folder, Path.GetFullPath(path, Folder));
        if (Path.IsPathRooted(rel)) return null;
        var parts = new List<string>(Prefix.Split('/', StringSplitOptions.RemoveEmptyEntries));
        foreach (var part in rel.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".") continue;
            if (part != "..") parts.Add(part);
            else if (parts.Count == 0) return null;
            else parts.RemoveAt(parts.Count - 1);
        }
        return parts.Count == 0 ? null : string.Join('/', parts);
    }

    /// <summary>HEAD's commit and tree, or nulls in a repository with no commits yet.</summary>
    public (string? Commit, string? Tree) Head()
    {
        // One process for both answers; an unborn HEAD prints "HEAD^{commit} missing".
        var r = Git.Check(TopLevel, ["cat-file", "--batch-check=%(objectname) %(objecttype)"], stdin: "HEAD^{commit}\nHEAD^{tree}\n");
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length < 2 || !lines[0].EndsWith(" commit", StringComparison.Ordinal) || !lines[1].EndsWith(" tree", StringComparison.Ordinal))
            return (null, null);
        return (lines[0][..lines[0].IndexOf(' ', StringComparison.Ordinal)], lines[1][..lines[1].IndexOf(' ', StringComparison.Ordinal)]);
    }

    /// <summary>The checked-out branch's short name (also before its first commit), or null on a detached HEAD.</summary>
    public string? Branch()
    {
        var r = Git.Run(TopLevel, ["symbolic-ref", "-q", "--short", "HEAD"]);
        return r.Ok ? r.Line : null;
    }

    /// <summary>The full id of a commit named by <paramref name="name"/>, or null when the repository has no such commit.</summary>
    public string? ResolveCommit(string name)
    {
        var r = Git.Run(TopLevel, ["rev-parse", "-q", "--verify", "--end-of-options", name + "^{commit}"]);
        return r.Ok ? r.Line : null;
    }

    /// <summary>
    /// Changed, deleted and untracked (not ignored) files of the working tree against HEAD and the index, as git status
    /// lists them, outside the folders in <paramref name="exclude"/>; empty when the working tree is clean. Read-only:
    /// optional locks are off, so the index is not refreshed.
    /// </summary>
    public IReadOnlyList<string> Changes(IReadOnlyList<string>? exclude = null)
    {
        var r = Git.Check(TopLevel, ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignore-submodules=none", "--", .. WorkingTree.Pathspecs(this, exclude)]);
        var changes = new List<string>();
        var entries = r.Stdout.Split('\0', StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < entries.Length; i++)
        {
            var e = entries[i];
            if (e.Length < 4) continue;
            changes.Add($"{e[..2].Trim()} {e[3..]}");
            // A rename or copy names its source in the next entry.
            if (e[0] is 'R' or 'C') i++;
        }
        return changes;
    }
}
