using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Registry.Indexing;
using Kiln.Registry.Store;
using Kiln.Registry.Workspace;

namespace Kiln.Server.Tests;

/// <summary>In a workspace, the runs list reads ended runs from the registry, and the rest from their folders.</summary>
public sealed class RegistryRunsListTests
{
    private const double Start = 1_700_000_000;

    /// <summary>A workspace with two ended runs, both recorded; the files are then made to disagree with the records.</summary>
    private static void Workspace(Kiln.Testing.TempDir w)
    {
        var ws = new WorkspacePaths(w.Path);
        WorkspaceConfig.For(w.Path, "w").Write(ws.Config);
        var a = FakeRun.Create(w.Sub("runs/a"), start: Start, metrics: new JsonObject { ["loss"] = 0.5 });
        var b = FakeRun.Create(w.Sub("runs/b"), start: Start, metrics: new JsonObject { ["loss"] = 0.7 });
        using (var db = RegistryDb.Open(ws))
        {
            // What the registry holds for a: a record whose final loss only the registry knows.
            db.Upsert(RunIndexer.Read(ws, a)! with { Metrics = new JsonObject { ["loss"] = 0.25 } });
            RunIndexer.Record(ws, db, b);
        }
        // kiln.run.json last written when each run ended, as a run's own end writes it.
        var ended = DateTime.UnixEpoch.AddSeconds(Start + 60);
        File.SetLastWriteTimeUtc(Path.Combine(a, RunFiles.Run), ended);
        // b was started again in its folder after it was recorded: its files are newer than the record.
        FakeRun.Create(b, status: RunInfo.Failed, start: Start + 3600, metrics: new JsonObject { ["loss"] = 9.0 });
        // c ended but was never recorded.
        FakeRun.Create(w.Sub("runs/c"), start: Start, metrics: new JsonObject { ["loss"] = 0.9 });
    }

    private static Dictionary<string, JsonNode> Rows(JsonNode answer) =>
        answer["runs"]!.AsArray().ToDictionary(r => r!["id"]!.GetValue<string>(), r => r!);

    [Fact]
    public async Task An_ended_run_is_listed_from_its_record_and_a_run_changed_since_or_unrecorded_from_its_files()
    {
        await using var host = await ServerHost.StartAsync(Workspace);
        var rows = Rows(await host.GetOk("/api/runs?sort=id&order=asc"));
        Assert.Equal(0.25, rows["runs/a"]["metrics"]!["loss"]!.GetValue<double>());
        Assert.Equal("failed", rows["runs/b"]["status"]!.GetValue<string>());
        Assert.Equal(9.0, rows["runs/b"]["metrics"]!["loss"]!.GetValue<double>());
        Assert.Equal(0.9, rows["runs/c"]["metrics"]!["loss"]!.GetValue<double>());
        // One run's page says what the list says.
        Assert.Equal(0.25, (await host.GetOk("/api/run?run=runs/a"))["run"]!["metrics"]!["loss"]!.GetValue<double>());
    }

    [Fact]
    public async Task A_registry_recorded_after_the_server_started_is_read_on_the_next_listing()
    {
        await using var host = await ServerHost.StartAsync(w =>
        {
            WorkspaceConfig.For(w.Path, "w").Write(new WorkspacePaths(w.Path).Config);
            FakeRun.Create(w.Sub("runs/a"), start: Start, metrics: new JsonObject { ["loss"] = 0.5 });
            File.SetLastWriteTimeUtc(Path.Combine(w.Sub("runs/a"), RunFiles.Run), DateTime.UnixEpoch.AddSeconds(Start + 60));
        });
        Assert.Equal(0.5, Rows(await host.GetOk("/api/runs"))["runs/a"]["metrics"]!["loss"]!.GetValue<double>());
        var ws = new WorkspacePaths(host.Workspace.Path);
        using (var db = RegistryDb.Open(ws))
            db.Upsert(RunIndexer.Read(ws, Path.Combine(ws.Root, "runs", "a"))! with { Metrics = new JsonObject { ["loss"] = 0.125 } });
        // The cached summary gives way once the list is rebuilt (RescanInterval) and the registry has changed.
        await Kiln.Testing.Wait.UntilAsync(async () => Rows(await host.GetOk("/api/runs"))["runs/a"]["metrics"]!["loss"]!.GetValue<double>(),
            loss => loss == 0.125, "the runs list to show the registry's record");
    }

    [Fact]
    public async Task A_registry_that_cannot_be_read_leaves_the_list_to_the_run_folders()
    {
        await using var host = await ServerHost.StartAsync(w =>
        {
            var ws = new WorkspacePaths(w.Path);
            WorkspaceConfig.For(w.Path, "w").Write(ws.Config);
            FakeRun.Create(w.Sub("runs/a"), start: Start, metrics: new JsonObject { ["loss"] = 0.5 });
            Directory.CreateDirectory(ws.State);
            File.WriteAllText(ws.Registry, "this is not a database, it only has the name of one");
        });
        var rows = Rows(await host.GetOk("/api/runs"));
        Assert.Equal(0.5, rows["runs/a"]["metrics"]!["loss"]!.GetValue<double>());
    }
}
