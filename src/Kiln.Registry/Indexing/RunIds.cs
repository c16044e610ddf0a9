using Kiln.Registry.Workspace;

namespace Kiln.Registry.Indexing;

/// <summary>
/// The id a run directory is recorded under: the folder's name for a run in <c>runs/</c> (<c>runs/20261204-101000</c> →
/// <c>20261204-101000</c>), the path below <c>out/log/</c> for a cfg-tree trial (<c>sweep/fmnist/mlp/adam/trial_003</c>, as
/// <c>kiln trials</c> names it), and the path from the workspace root for any other run directory.
/// </summary>
public static class RunIds
{
    /// <summary>The directory relative to the workspace root, with '/'.</summary>
    public static string RelativeDir(WorkspacePaths workspace, string dir) =>
        Path.GetRelativePath(workspace.Root, Path.GetFullPath(dir, workspace.Root)).Replace(Path.DirectorySeparatorChar, '/');

    /// <summary>The id <paramref name="dir"/> is recorded under, unless another run took it first (<see cref="Fallback"/>).</summary>
    public static string For(WorkspacePaths workspace, string dir)
    {
        var relative = RelativeDir(workspace, dir);
        if (relative.StartsWith("runs/", StringComparison.Ordinal) && relative.IndexOf('/', 5) < 0 && relative.Length > 5) return relative[5..];
        if (relative.StartsWith("out/log/", StringComparison.Ordinal) && relative.Length > 8) return relative[8..];
        return relative;
    }

    /// <summary>
    /// The id of a run whose preferred id another run holds (a run directory <c>x/</c> at the root beside <c>runs/x/</c>):
    /// its path from the root, marked so it cannot be any preferred id.
    /// </summary>
    public static string Fallback(WorkspacePaths workspace, string dir) => "./" + RelativeDir(workspace, dir);
}
