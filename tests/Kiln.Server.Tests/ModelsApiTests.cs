using System.Text.Json.Nodes;
using Kiln.Registry.Records;
using Kiln.Registry.Store;
using Kiln.Registry.Workspace;
using Kiln.Testing;

namespace Kiln.Server.Tests;

/// <summary><c>/api/models</c>: the served workspace's registry, and nothing outside the served folder.</summary>
public sealed class ModelsApiTests
{
    private static void Registry(string root)
    {
        var ws = new WorkspacePaths(root);
        Directory.CreateDirectory(root);
        WorkspaceConfig.For(root, "w").Write(ws.Config);
        using var db = RegistryDb.Open(ws);
        db.Upsert(new RunRecord
        {
            Id = "m1", Kind = "train", Dir = "runs/m1", Status = "completed", Start = 1, Fingerprint = "sha256:" + new string('b', 64),
            Weights = "runs/m1/weights.safetensors", Params = new JsonObject { ["lr"] = 0.1 },
        });
    }

    [Fact]
    public async Task The_served_workspace_lists_its_models()
    {
        await using var host = await ServerHost.StartAsync(w => Registry(w.Path));
        var answer = await host.GetOk("/api/models");
        Assert.Equal("m1", (string)answer["groups"]![0]!["models"]![0]!["id"]!);
        Assert.Null(answer["groups"]![0]!["models"]![0]!["run"]); // its folder is not there, so no link
    }

    [Fact]
    public async Task A_workspace_above_the_served_folder_or_a_registry_linked_from_outside_is_not_shown()
    {
        using var outside = new TempDir("outside");
        Registry(outside.Path);
        var below = Path.Combine(outside.Path, "runs");
        Directory.CreateDirectory(below);
        await using (var host = await ServerHost.StartAsync(w => File.WriteAllText(Path.Combine(w.Path, "marker"), "")))
        {
            Assert.Null((await host.GetOk("/api/models"))["workspace"]);
        }
        await using var linked = await ServerHost.StartAsync(w =>
        {
            WorkspaceConfig.For(w.Path, "w").Write(Path.Combine(w.Path, WorkspacePaths.ConfigFile));
            Directory.CreateDirectory(Path.Combine(w.Path, WorkspacePaths.StateDir));
            File.CreateSymbolicLink(Path.Combine(w.Path, WorkspacePaths.StateDir, WorkspacePaths.RegistryFile), new WorkspacePaths(outside.Path).Registry);
        });
        var answer = await linked.GetOk("/api/models");
        Assert.Null(answer["workspace"]);
        Assert.Empty(answer["groups"]!.AsArray());
    }
}
