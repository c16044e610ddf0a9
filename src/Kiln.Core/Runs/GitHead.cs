namespace Kiln.Runs;

/// <summary>
/// The commit checked out in a directory's git repository, read from the repository's files (HEAD, loose and packed
/// refs, worktrees' <c>.git</c> files) rather than by starting <c>git</c>: every run records it when it starts.
/// </summary>
public static class GitHead
{
    /// <summary>The full commit id, or null outside a repository or before its first commit.</summary>
    public static string? Of(string directory)
    {
        try
        {
            var gitDir = FindGitDir(Path.GetFullPath(directory));
            if (gitDir is null) return null;
            var head = File.ReadAllText(Path.Combine(gitDir, "HEAD")).Trim();
            if (!head.StartsWith("ref: ", StringComparison.Ordinal)) return IsCommitId(head) ? head : null;
            return ResolveRef(gitDir, head[5..].Trim());
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string? FindGitDir(string dir)
    {
        for (var d = new DirectoryInfo(dir); d is not null; d = d.Parent)
        {
            var dotGit = Path.Combine(d.FullName, ".git");
            if (Directory.Exists(dotGit)) return dotGit;
            if (File.Exists(dotGit))
            {
                // A worktree or submodule: ".git" is a file that says where its git directory is.
                var line = File.ReadAllText(dotGit).Trim();
                if (!line.StartsWith("gitdir:", StringComparison.Ordinal)) return null;
                var target = line[7..].Trim();
                return Path.GetFullPath(Path.IsPathRooted(target) ? target : Path.Combine(d.FullName, target));
            }
        }
        return null;
    }

    private static string? ResolveRef(string gitDir, string name)
    {
        // A worktree keeps HEAD and its own refs; branches live in the common directory it names.
        var commonFile = Path.Combine(gitDir, "commondir");
        var common = File.Exists(commonFile) ? Path.GetFullPath(Path.Combine(gitDir, File.ReadAllText(commonFile).Trim())) : gitDir;
        foreach (var root in gitDir == common ? new[] { gitDir } : [gitDir, common])
        {
            var loose = Path.Combine(root, name.Replace('/', Path.DirectorySeparatorChar));
            if (File.Exists(loose))
            {
                var id = File.ReadAllText(loose).Trim();
                return IsCommitId(id) ? id : null;
            }
        }
        var packed = Path.Combine(common, "packed-refs");
        if (!File.Exists(packed)) return null;
        foreach (var line in File.ReadLines(packed))
        {
            if (line.Length > 41 && line[40] == ' ' && line.AsSpan(41).SequenceEqual(name) && IsCommitId(line[..40])) return line[..40];
        }
        return null;
    }

    private static bool IsCommitId(string text) =>
        text.Length is 40 or 64 && text.All(char.IsAsciiHexDigitLower);
}
