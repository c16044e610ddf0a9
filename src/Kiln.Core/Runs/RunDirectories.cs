using Kiln.Protocol;

namespace Kiln.Runs;

/// <summary>
/// Finds the run directories below a root — launch runs, demos, trials (run or not yet), <c>kiln train</c> runs — by
/// walking the tree: a folder holding one of the files only a run directory holds is a run, and nothing below it is
/// looked at. The walk never enters .git, node_modules, bin, obj, .kiln or kiln.sources, follows no symbolic link and
/// goes at most <see cref="MaxDepth"/> folders deep. The dashboard's run index and the registry's rebuild share it.
/// </summary>
public static class RunDirectories
{
    /// <summary>Files only a run directory holds.</summary>
    public static readonly IReadOnlyList<string> Markers =
        [RunFiles.Run, RunFiles.Metrics, RunFiles.Ledger, RunFiles.KernelLock, RunFiles.Actuators, RunFiles.Trial];

    /// <summary>
    /// Files that can land in a folder that is not a run (a command sent with the run's name forgotten): such a folder
    /// counts only when no run lies beneath it, so a stray file never hides the runs it sits above.
    /// </summary>
    public static readonly IReadOnlyList<string> WeakMarkers = [RunFiles.Commands];

    private static readonly HashSet<string> Skip = new(StringComparer.Ordinal) { ".git", "node_modules", "bin", "obj", ".kiln", RunFiles.SourcesDir };

    /// <summary>How deep the walk goes: <c>out/log/&lt;mode&gt;/&lt;dataset&gt;/&lt;model&gt;/&lt;trainer&gt;/trial_###</c> is 7.</summary>
    public const int MaxDepth = 8;

    /// <summary>Every run directory below <paramref name="root"/> (the root included): its path relative to the root, with '/', → its full path.</summary>
    public static Dictionary<string, string> Walk(string root)
    {
        var full = Path.GetFullPath(root);
        var found = new Dictionary<string, string>(StringComparer.Ordinal);
        Walk(full, full, 0, found);
        return found;
    }

    /// <summary>Whether <paramref name="dir"/> holds one of the files only a run directory holds.</summary>
    public static bool IsRun(string dir) => Has(dir, Markers);

    private static void Walk(string root, string dir, int depth, Dictionary<string, string> found)
    {
        var id = Path.GetRelativePath(root, dir).Replace(Path.DirectorySeparatorChar, '/');
        if (Has(dir, Markers))
        {
            found[id] = dir;
            return;
        }
        var before = found.Count;
        WalkChildren(root, dir, depth, found);
        if (found.Count == before && Has(dir, WeakMarkers)) found[id] = dir;
    }

    private static void WalkChildren(string root, string dir, int depth, Dictionary<string, string> found)
    {
        if (depth >= MaxDepth) return;
        IEnumerable<string> children;
        try { children = Directory.EnumerateDirectories(dir); }
        catch (UnauthorizedAccessException) { return; }
        catch (DirectoryNotFoundException) { return; }
        foreach (var child in children)
        {
            var name = Path.GetFileName(child);
            if (Skip.Contains(name)) continue;
            try
            {
                if ((File.GetAttributes(child) & FileAttributes.ReparsePoint) != 0) continue; // symlinks could lead outside the root
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                continue; // gone, or not ours to look into, since the listing
            }
            Walk(root, child, depth + 1, found);
        }
    }

    private static bool Has(string dir, IReadOnlyList<string> markers)
    {
        foreach (var m in markers) if (File.Exists(Path.Combine(dir, m))) return true;
        return false;
    }
}
