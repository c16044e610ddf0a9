using System.Diagnostics;
using System.Globalization;

namespace Kiln.Registry.Workspace;

/// <summary>One thing deinit removes or keeps, and why or what it holds.</summary>
/// <param name="Path">Relative to the workspace root, '/' separated; folders end with '/'.</param>
public sealed record DeinitItem(string Path, string Detail);

/// <summary>What <c>kiln workspace deinit</c> would do: shown first, carried out only when confirmed.</summary>
public sealed record DeinitPlan(WorkspacePaths Workspace, IReadOnlyList<DeinitItem> Remove, IReadOnlyList<DeinitItem> Keep);

/// <summary>
/// <c>kiln workspace deinit</c>: undoes what makes a folder a workspace — <c>kiln.json</c>, the registry and Kiln's
/// folders in <c>.kiln/</c> — and nothing else. Run directories, reports, config trees, sources, the editor project, the
/// <c>.gitignore</c> line and the git snapshot refs (<c>refs/kiln/*</c>) are the user's work and are kept (and listed as
/// kept, with how to delete them by hand). The registry can be rebuilt from the run folders if the workspace is made
/// again.
/// </summary>
public static class WorkspaceDeinit
{
    /// <summary>What <c>.kiln/</c> holds that is Kiln's: the registry (with its log), set-aside registries, rebuilds, folders and build output.</summary>
    private static bool IsKilns(string name, bool folder) => folder
        ? WorkspaceInit.StateFolders.Contains(name) || name is "bin" or "obj"
        : name.StartsWith(WorkspacePaths.RegistryFile, StringComparison.Ordinal);

    public static DeinitPlan Plan(WorkspacePaths workspace)
    {
        var remove = new List<DeinitItem>();
        var keep = new List<DeinitItem>();
        if (File.Exists(workspace.Config)) remove.Add(new(WorkspacePaths.ConfigFile, "the workspace's configuration"));
        if (Directory.Exists(workspace.State))
        {
            foreach (var entry in new DirectoryInfo(workspace.State).EnumerateFileSystemInfos().OrderBy(e => e.Name, StringComparer.Ordinal))
            {
                var folder = entry is DirectoryInfo;
                var path = $"{WorkspacePaths.StateDir}/{entry.Name}{(folder ? "/" : "")}";
                if (!IsKilns(entry.Name, folder)) keep.Add(new(path, "not Kiln's"));
                else if (entry is DirectoryInfo d) remove.Add(new(path, Contents(d)));
                else remove.Add(new(path, entry.Name == WorkspacePaths.RegistryFile ? $"the registry, {Size(((FileInfo)entry).Length)}" : Size(((FileInfo)entry).Length)));
            }
        }
        foreach (var folder in WorkspaceInit.UserFolders.Append("out"))
        {
            if (Directory.Exists(Path.Combine(workspace.Root, folder))) keep.Add(new(folder + "/", "your work"));
        }
        foreach (var project in Directory.EnumerateFiles(workspace.Root, "*.csproj").Select(Path.GetFileName).Order(StringComparer.Ordinal))
            keep.Add(new(project!, "delete it yourself if you no longer want it"));
        if (File.Exists(Path.Combine(workspace.Root, ".gitignore"))) keep.Add(new(".gitignore", $"its {WorkspaceInit.IgnoreLine} line too"));
        var refs = SnapshotRefs(workspace.Root);
        if (refs != 0)
        {
            keep.Add(new("refs/kiln/*", (refs > 0 ? $"{refs} git snapshot ref{(refs == 1 ? "" : "s")}" : "git snapshot refs, if any") +
                ": list them with `git for-each-ref refs/kiln`, delete one with `git update-ref -d <ref>`"));
        }
        return new DeinitPlan(workspace, remove, keep);
    }

    /// <summary>Removes what <paramref name="plan"/> lists, then <c>.kiln/</c> if nothing else is left in it; returns what was removed.</summary>
    public static IReadOnlyList<string> Execute(DeinitPlan plan)
    {
        var removed = new List<string>();
        foreach (var item in plan.Remove)
        {
            var path = Path.Combine(plan.Workspace.Root, item.Path.TrimEnd('/'));
            if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
            else if (File.Exists(path)) File.Delete(path);
            else continue;
            removed.Add(item.Path);
        }
        if (Directory.Exists(plan.Workspace.State) && !Directory.EnumerateFileSystemEntries(plan.Workspace.State).Any())
        {
            Directory.Delete(plan.Workspace.State);
            removed.Add(WorkspacePaths.StateDir + "/");
        }
        return removed;
    }

    private static string Contents(DirectoryInfo dir)
    {
        long files = 0, bytes = 0;
        foreach (var f in dir.EnumerateFiles("*", SearchOption.AllDirectories))
        {
            files++;
            bytes += f.Length;
        }
        return files == 0 ? "empty" : $"{files} file{(files == 1 ? "" : "s")}, {Size(bytes)}";
    }

    private static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.#} KB"),
        < 1024L * 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:0.#} MB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1073741824.0:0.##} GB"),
    };

    /// <summary>How many refs under refs/kiln the repository holding the root has: 0 outside a repository, -1 when git cannot tell.</summary>
    private static int SnapshotRefs(string root)
    {
        try
        {
            var info = new ProcessStartInfo("git") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = root };
            foreach (var a in new[] { "for-each-ref", "--format=%(refname)", "refs/kiln" }) info.ArgumentList.Add(a);
            using var git = Process.Start(info);
            if (git is null) return -1;
            var output = git.StandardOutput.ReadToEnd();
            git.StandardError.ReadToEnd();
            if (!git.WaitForExit(10_000)) return -1;
            // Exit 128: not a repository, so no refs to keep.
            return git.ExitCode == 0 ? output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length : 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return -1; // no git installed
        }
    }
}
