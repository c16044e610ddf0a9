using Kiln.Registry.Workspace;
using Kiln.Testing;

namespace Kiln.Registry.Tests;

public sealed class WorkspacePathsTests
{
    [Fact]
    public void A_workspace_is_found_from_any_folder_below_its_kiln_json_and_not_above_it()
    {
        using var tmp = new TempDir("workspace");
        var root = tmp.Sub("project");
        File.WriteAllText(Path.Combine(root, WorkspacePaths.ConfigFile), "{}");
        var deep = Path.Combine(root, "runs", "a", "b");
        Directory.CreateDirectory(deep);
        Assert.Equal(root, WorkspacePaths.Find(deep)!.Root);
        Assert.Equal(Path.Combine(root, ".kiln", "registry.db"), WorkspacePaths.Find(root)!.Registry);
        Assert.Null(WorkspacePaths.Find(tmp.Path));
    }
}
