namespace Kiln.Server.Security;

/// <summary>
/// What the server may touch: paths under the directory it serves once every symbolic link on the way is resolved.
/// A link among a run's files that leads elsewhere (<c>batch_log.csv → /etc/passwd</c>) would otherwise let anyone who
/// can read the dashboard read any file the server's user can, and a link in place of the inbox would let a change be
/// written anywhere.
/// </summary>
/// <remarks>
/// The check looks before the file is opened, so a file swapped for a link in between is read once; only someone who
/// can write into the served directory can do that, and it is the directory's owner the check protects.
/// </remarks>
public sealed class Confinement
{
    /// <summary>Links followed in a row at most, as the kernel's limit (<c>ELOOP</c>).</summary>
    private const int MaxHops = 40;

    public Confinement(string root)
    {
        Root = Resolve(root) ?? Path.GetFullPath(root);
    }

    /// <summary>The served directory, resolved.</summary>
    public string Root { get; }

    /// <summary>Whether <paramref name="path"/>, every link on the way resolved, is the served directory or under it.</summary>
    public bool Holds(string path) => Resolve(path) is { } real && Under(real);

    /// <summary>
    /// The file among <paramref name="names"/> in <paramref name="dir"/> that is a symbolic link leading outside the
    /// served directory (one naming nothing yet counts by where it points), or null when none is. Only links are
    /// resolved, so a directory of plain files costs one <c>readlink</c> per name.
    /// </summary>
    public string? LinkOut(string dir, IEnumerable<string> names)
    {
        foreach (var name in names)
        {
            var path = Path.Combine(dir, name);
            if (IsLink(path) && !Holds(path)) return name;
        }
        return null;
    }

    private bool Under(string real) =>
        real.Length == Root.Length ? string.Equals(real, Root, StringComparison.Ordinal)
        : real.StartsWith(Root, StringComparison.Ordinal) && (Root.EndsWith(Path.DirectorySeparatorChar) || real[Root.Length] == Path.DirectorySeparatorChar);

    private static bool IsLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget is not null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false; // what cannot be looked at cannot be opened either: reading it fails, and says why
        }
    }

    /// <summary>
    /// The path as the system opens it: made absolute as .NET does before every open (<c>a/link/..</c> is <c>a</c>),
    /// then every symbolic link resolved as the kernel does (a <c>..</c> in a link's target climbs from where the link
    /// leads). Parts that do not exist are kept as written. Null when links loop or a part cannot be looked at.
    /// </summary>
    public static string? Resolve(string path)
    {
        var full = Path.GetFullPath(path);
        var root = Path.GetPathRoot(full)!;
        var pending = new Stack<string>(Parts(full[root.Length..]).Reverse());
        var resolved = root;
        var hops = 0;
        while (pending.TryPop(out var part))
        {
            if (part == ".") continue;
            if (part == "..")
            {
                resolved = Path.GetDirectoryName(resolved) ?? root;
                continue;
            }
            var next = Path.Join(resolved, part);
            string? target;
            try
            {
                target = new FileInfo(next).LinkTarget;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return null;
            }
            if (target is null)
            {
                resolved = next;
                continue;
            }
            if (++hops > MaxHops) return null;
            // A link's target is read from where the link is: its own parts go first, from its root if it has one.
            if (Path.GetPathRoot(target) is { Length: > 0 } from)
            {
                resolved = from;
                target = target[from.Length..];
            }
            foreach (var p in Parts(target).Reverse()) pending.Push(p);
        }
        return resolved;
    }

    private static string[] Parts(string path) =>
        path.Split([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar], StringSplitOptions.RemoveEmptyEntries);
}
