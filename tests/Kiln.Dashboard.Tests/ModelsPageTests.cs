using System.Text.Json.Nodes;
using Kiln.Registry.Records;
using Kiln.Registry.Store;
using Kiln.Registry.Workspace;
using static Microsoft.Playwright.Assertions;

namespace Kiln.Dashboard.Tests;

/// <summary>The models page: the workspace's registry grouped by architecture, with parameters, results and links to the runs.</summary>
[Collection(DashboardCollection.Name)]
public sealed class ModelsPageTests(DashboardFixture fixture)
{
    [Fact]
    public async Task The_models_page_groups_the_registry_by_architecture_with_params_results_and_run_links()
    {
        var workspace = new WorkspacePaths(fixture.Root);
        if (!File.Exists(workspace.Config)) WorkspaceConfig.For(workspace.Root, "dashboard").Write(workspace.Config);
        using (var db = RegistryDb.Open(workspace))
        {
            RunRecord Model(string id, string dir, double lr, JsonObject? result, double start) => new()
            {
                Id = id, Kind = "train", Dir = dir, Status = "completed", Start = start, Fingerprint = "sha256:" + new string('a', 64),
                ArchitectureSummary = "fc1 Linear [8, 32]\nfc2 Linear [32, 3]", Weights = dir + "/weights.safetensors",
                Params = new JsonObject { ["lr"] = lr, ["batch_size"] = 32 }, TrialResult = result, SnapshotRef = "refs/kiln/runs/" + id,
                GitCommit = "0123456789abcdef0123456789abcdef01234567", Dirty = true,
            };
            db.Upsert(Model("model-old", fixture.TrialIds[0], 0.001, new JsonObject { ["accuracy"] = 0.91 }, 1_700_000_000));
            db.Upsert(Model("model-new", fixture.TrialIds[1], 0.01, null, 1_700_000_100));
        }

        await using var session = await PageSession.OpenAsync(fixture, "#/models");
        var page = session.Page;
        var group = page.GetByTestId("model-group");
        await Expect(group).ToHaveCountAsync(1);
        await Expect(group).ToContainTextAsync("sha256:aaaaaaaaaaa");
        var rows = page.GetByTestId("model-row");
        await Expect(rows).ToHaveCountAsync(2);
        await Expect(rows.First).ToHaveAttributeAsync("data-id", "model-new"); // newest first
        await Expect(rows.Nth(1).Locator("[data-result=accuracy]")).ToHaveTextAsync("0.91");
        await Expect(rows.First.Locator("[data-result=accuracy]")).ToHaveTextAsync("—");
        await Expect(rows.Nth(1)).ToContainTextAsync("0123456789 (with changes)");
        await rows.Nth(1).GetByRole(Microsoft.Playwright.AriaRole.Link).ClickAsync();
        await Expect(page.GetByTestId("run-header")).ToContainTextAsync(fixture.TrialIds[0]);
        await session.AssertCleanAsync();
    }
}
