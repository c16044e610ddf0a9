namespace Kiln.Registry.Git;

/// <summary>How the temporary index starts before <c>git add -A</c> brings it to the working tree.</summary>
internal enum IndexSeed
{
    /// <summary>
    /// A byte copy of the user's index (which is only read): its entries carry the files' stat data, so <c>add -A</c>
    /// hashes only the files that changed, and its skip-worktree entries (a sparse checkout) stay as they are.
    /// </summary>
    CopyIndex,

    /// <summary><c>git read-tree HEAD</c>: entries without stat data, so <c>add -A</c> hashes every file again.</summary>
    ReadTree,
}

/// <summary>
/// The working tree as a git tree object — tracked changes and untracked, non-ignored files — written through a
/// temporary index in the repository's git directory. The user's index, working tree, HEAD and stash are only read.
/// </summary>
internal static class WorkingTree
{
    /// <summary>The default seed: <c>bench snapshot</c> measures it at a fifth to a third of the read-tree's time on 10,000 files (docs/snapshots.md).</summary>
    public const IndexSeed DefaultSeed = IndexSeed.CopyIndex;

    /// <summary>
    /// Writes the working tree of <paramref name="repo"/> as a tree and returns its id. Folders in
    /// <paramref name="exclude"/> (a workspace's run directories, say) are left as HEAD has them.
    /// </summary>
    public static string WriteTree(GitRepository repo, bool hasHead, IReadOnlyList<string>? exclude = null, IndexSeed seed = DefaultSeed)
    {
        var temp = Path.Combine(repo.GitDir, $"kiln-index-{Environment.ProcessId}-{Guid.NewGuid():N}");
        var env = new Dictionary<string, string?> { ["GIT_INDEX_FILE"] = temp };
        var git = repo.Git;
        try
        {
            var copied = seed == IndexSeed.CopyIndex ? CopyIndex(repo.IndexPath, temp) : null;
            if (copied is not null && IndexFile.MayHaveOverlookedEntries(copied)) Unflag(repo, env);
            else if (copied is null && hasHead) git.Check(repo.TopLevel, ["read-tree", "HEAD"], env);
            git.Check(repo.TopLevel, ["add", "-A", "--", .. Pathspecs(repo, exclude)], env);
            return git.Check(repo.TopLevel, ["write-tree"], env).Line;
        }
        finally
        {
            TryDelete(temp);
            TryDelete(temp + ".lock");
        }
    }

    /// <summary>The whole working tree but the excluded folders inside it, as pathspecs taken literally from the top.</summary>
    internal static List<string> Pathspecs(GitRepository repo, IReadOnlyList<string>? exclude)
    {
        List<string> specs = [":/"];
        var inTree = (exclude ?? []).Select(repo.InTree).OfType<string>().ToList();
        // A folder git ignores is left out anyway, and naming it in a pathspec makes `git add` refuse.
        var ignored = inTree.Count == 0 ? [] : Ignored(repo, inTree);
        foreach (var rel in inTree)
        {
            if (!ignored.Contains(rel)) specs.Add(":(top,exclude,literal)" + rel);
        }
        return specs;
    }

    /// <summary>Which of these paths (relative to the top) the repository ignores, in one git call.</summary>
    private static HashSet<string> Ignored(GitRepository repo, IReadOnlyList<string> paths)
    {
        var result = repo.Git.Run(repo.TopLevel, ["check-ignore", "--", .. paths]);
        // Exit 1: none is ignored; 0: those printed are.
        return result.ExitCode == 0
            ? [.. result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => p.TrimEnd('/'))]
            : [];
    }

    /// <summary>
    /// Copies the user's index to <paramref name="temp"/> and returns its bytes, null when there is none. The copy keeps the original's
    /// modification time (or earlier): git trusts an entry's stat data only when the file is older than the index, so
    /// a copy that looked newer could hide a change made just after the index was written.
    /// </summary>
    private static byte[]? CopyIndex(string index, string temp)
    {
        byte[] bytes;
        DateTime written;
        try
        {
            using var from = new FileStream(index, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            written = File.GetLastWriteTimeUtc(from.SafeFileHandle);
            bytes = new byte[from.Length];
            from.ReadExactly(bytes);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        using (var to = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
        {
            to.Write(bytes);
            File.SetLastWriteTimeUtc(to.SafeFileHandle, written);
        }
        return bytes;
    }

    /// <summary>
    /// In the copy, clears the assume-unchanged and skip-worktree marks of entries whose file is on disk, so
    /// <c>add -A</c> takes the content that runs rather than what the user asked git to overlook. Entries of a sparse
    /// checkout (marked skip-worktree, absent from disk) keep their mark and HEAD's content.
    /// </summary>
    private static void Unflag(GitRepository repo, Dictionary<string, string?> env)
    {
        var listing = repo.Git.Check(repo.TopLevel, ["ls-files", "-v", "-z"], env).Stdout;
        List<string>? assumed = null, skipped = null;
        foreach (var entry in listing.Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            // "<tag> <path>": a lowercase tag is assume-unchanged; S (or s) is skip-worktree. Most entries are "H ".
            var tag = entry[0];
            if (tag == 'H' || entry.Length < 3) continue;
            var path = entry[2..];
            if (!File.Exists(Path.Combine(repo.TopLevel, path))) continue;
            if (char.IsAsciiLetterLower(tag)) (assumed ??= []).Add(path);
            if (tag is 'S' or 's') (skipped ??= []).Add(path);
        }
        // One mark per update-index call: git applies only the first of several --no-… options.
        if (assumed is not null) Clear(repo, env, "--no-assume-unchanged", assumed);
        if (skipped is not null) Clear(repo, env, "--no-skip-worktree", skipped);
    }

    private static void Clear(GitRepository repo, Dictionary<string, string?> env, string option, List<string> paths) =>
        repo.Git.Check(repo.TopLevel, ["update-index", option, "-z", "--stdin"], env, string.Concat(paths.Select(p => p + "\0")));

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
