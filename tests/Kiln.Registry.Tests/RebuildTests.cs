using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Registry.Indexing;
using Kiln.Registry.Records;
using Kiln.Registry.Store;
using Kiln.Registry.Workspace;
using Kiln.Testing;

namespace Kiln.Registry.Tests;

public sealed class RebuildTests
{
    /// <summary>A launch run, a trial run and one not run yet, and a training with everything the SDK reports.</summary>
    private static WorkspacePaths Workspace(TempDir tmp)
    {
        WorkspaceInit.Run(tmp.Path, new WorkspaceInitOptions { Name = "w" });
        var ws = new WorkspacePaths(tmp.Path);
        Runs.Run(tmp.Path, "runs/launch-1", RunKinds.Launch, 100, parameters: new() { ["lr"] = 0.01 }, metrics: new() { ["val_loss"] = 0.5 });
        Runs.Run(tmp.Path, "out/log/sweep/fmnist/mlp/adam/trial_000", RunKinds.Trial, 200, parameters: new() { ["lr"] = 0.001 });
        File.WriteAllText(Path.Combine(tmp.Path, "out/log/sweep/fmnist/mlp/adam/trial_000", RunFiles.Trial), """{"leaf":"x","swept":{"lr":0.001}}""");
        Runs.PendingTrial(tmp.Path, "out/log/sweep/fmnist/mlp/adam/trial_001", new() { ["lr"] = 0.01 });
        Runs.Trained(tmp.Path, "train-1", "fp-a", new() { ["lr"] = 0.1, ["batch_size"] = 32 }, 300, result: new() { ["accuracy"] = 0.93 }, snapshot: true);
        return ws;
    }

    [Fact]
    public void A_run_folder_reads_into_its_record()
    {
        using var tmp = new TempDir("index");
        var ws = Workspace(tmp);

        var train = RunIndexer.Read(ws, Path.Combine(tmp.Path, "runs", "train-1"))!;
        Assert.Equal(("train-1", RunKinds.Train, "runs/train-1", RunInfo.Completed), (train.Id, train.Kind, train.Dir, train.Status));
        Assert.Equal(("fp-a", "Linear(4, 2) [fp-a]"), (train.Fingerprint, train.ArchitectureSummary));
        Assert.Equal("""{"batch_size":32,"lr":0.1}""", CanonicalJson.Params(train.Params));
        Assert.Equal("runs/train-1/weights.safetensors", train.Weights);
        Assert.Equal(0.93, (double)train.TrialResult!["accuracy"]!);
        Assert.NotNull(train.TrialledAt);
        Assert.Equal(("5eedtrain-1", "refs/kiln/runs/train-1", true), (train.GitCommit, train.SnapshotRef, train.Dirty));
        Assert.Equal((300.0, 310.0, "mlp"), (train.Start, train.End, train.Config));
        Assert.True(train.IsModel);

        var launch = RunIndexer.Read(ws, "runs/launch-1")!;
        Assert.Equal(("launch-1", RunKinds.Launch, "abc123", null), (launch.Id, launch.Kind, launch.GitCommit, launch.Dirty));
        Assert.Equal(0.01, (double)launch.Params!["lr"]!);
        Assert.Equal(0.5, (double)launch.Metrics!["val_loss"]!);
        Assert.False(launch.IsModel);

        var trial = RunIndexer.Read(ws, "out/log/sweep/fmnist/mlp/adam/trial_000")!;
        Assert.Equal(("sweep/fmnist/mlp/adam/trial_000", RunKinds.Trial, "out/log/sweep/fmnist/mlp/adam/trial_000"), (trial.Id, trial.Kind, trial.Dir));
        Assert.Equal(0.001, (double)trial.Swept!["lr"]!);

        var pending = RunIndexer.Read(ws, "out/log/sweep/fmnist/mlp/adam/trial_001")!;
        Assert.Equal((RunKinds.Trial, RunIndexer.Pending), (pending.Kind, pending.Status));

        Assert.Null(RunIndexer.Read(ws, "runs"));
        Assert.Null(RunIndexer.Read(ws, "no-such-folder"));
    }

    [Fact]
    public void A_run_that_says_running_but_whose_process_is_gone_reads_as_interrupted()
    {
        using var tmp = new TempDir("index");
        var ws = new WorkspacePaths(tmp.Path);
        var dir = Runs.Run(tmp.Path, "runs/r", RunKinds.Train, 1, status: RunInfo.Running);
        var info = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, RunFiles.Run)))!.AsObject();
        info["pid"] = int.MaxValue;
        File.WriteAllText(Path.Combine(dir, RunFiles.Run), info.ToJsonString());
        Assert.Equal(RunInfo.Interrupted, RunIndexer.Read(ws, dir)!.Status);
    }

    [Fact]
    public void Unreadable_files_are_reported_and_leave_the_rest_of_the_run()
    {
        using var tmp = new TempDir("index");
        var ws = new WorkspacePaths(tmp.Path);
        var dir = Runs.Trained(tmp.Path, "t", "fp", new() { ["a"] = 1 }, 5);
        File.WriteAllText(Path.Combine(dir, RunFiles.Params), "{oops");
        File.WriteAllText(Path.Combine(dir, RunFiles.Snapshot), """{"commit": 5}""");
        var problems = new List<string>();
        var record = RunIndexer.Read(ws, dir, problems)!;
        Assert.Equal("fp", record.Fingerprint);
        Assert.Null(record.Params);   // kiln.run.json has none
        Assert.Equal("abc123", record.GitCommit);
        Assert.Equal(2, problems.Count);
        Assert.StartsWith(Path.Combine(dir, RunFiles.Params) + ": content: invalid JSON", problems[0]);
        Assert.Equal(Path.Combine(dir, RunFiles.Snapshot) + ": commit: expected a string, got 5", problems[1]);

        File.WriteAllText(Path.Combine(dir, RunFiles.Run), "not json");
        var broken = RunIndexer.Read(ws, dir, problems)!;
        Assert.Equal(RunIndexer.Unknown, broken.Status);
        Assert.StartsWith("cannot read kiln.run.json: ", broken.Error);
    }

    [Fact]
    public void Rebuild_records_every_run_folder_and_replaces_the_registry()
    {
        using var tmp = new TempDir("rebuild");
        var ws = Workspace(tmp);
        // A record whose folder is gone disappears with the rebuild; a second registry connection left open is no obstacle.
        using (var db = RegistryDb.Open(ws)) db.Upsert(new RunRecord { Id = "ghost", Kind = "train", Dir = "runs/ghost", Status = "completed" });

        var report = RegistryRebuild.Run(ws);
        Assert.Equal((4, 1, 1), (report.Runs, report.Models, report.Trialled));
        Assert.Empty(report.Problems);
        Assert.Null(report.SetAside);
        Assert.False(File.Exists(ws.Registry + "-wal") && new FileInfo(ws.Registry + "-wal").Length > 0);
        Assert.Empty(Directory.EnumerateFiles(ws.State, "*.rebuild-*"));

        using var after = RegistryDb.Open(ws);
        Assert.Null(after.Get("ghost"));
        Assert.Equal(["train-1", "sweep/fmnist/mlp/adam/trial_000", "launch-1", "sweep/fmnist/mlp/adam/trial_001"],
            after.Query(ModelQuery.AllRuns).Select(r => r.Id));
        Assert.Equal("refs/kiln/runs/train-1", after.Get("train-1")!.SnapshotRef);
        Assert.Equal(0.93, (double)after.FindTrainings("fp-a", """{"lr": 0.1, "batch_size": 32}""").Single().TrialResult!["accuracy"]!);
    }

    [Fact]
    public void Rebuild_sets_a_damaged_registry_aside_and_recovers()
    {
        using var tmp = new TempDir("rebuild");
        var ws = Workspace(tmp);
        File.WriteAllBytes(ws.Registry, [.. Enumerable.Repeat((byte)0x5A, 8192)]);
        Assert.Throws<RegistryException>(() => RegistryDb.Open(ws).Dispose());

        var time = new ManualTimeProvider();
        time.Advance(new TimeSpan(337, 10, 11, 12));
        var report = RegistryRebuild.Run(ws, time);
        Assert.Equal(ws.Registry + ".corrupt-20261204-101112", report.SetAside);
        Assert.Equal(8192, new FileInfo(report.SetAside!).Length);
        using var db = RegistryDb.Open(ws);
        Assert.Equal(4, db.Count(ModelQuery.AllRuns));
    }

    [Fact]
    public void A_run_is_recorded_from_its_folder_and_recorded_again_as_it_changes()
    {
        using var tmp = new TempDir("record");
        var ws = new WorkspacePaths(tmp.Path);
        using var db = RegistryDb.Open(ws);
        var dir = Runs.Run(tmp.Path, "runs/t", RunKinds.Train, 10, status: RunInfo.Running);
        Assert.Equal(RunInfo.Interrupted, RunIndexer.Record(ws, db, dir)!.Status);   // no process holds it
        Runs.Trained(tmp.Path, "t", "fp", new() { ["lr"] = 0.1 }, 10);
        RunIndexer.Record(ws, db, dir);
        Assert.Equal(["t"], db.FindTrainings("fp", """{"lr": 0.1}""").Select(r => r.Id));
        Assert.Null(RunIndexer.Record(ws, db, tmp.Sub("empty")));

        Runs.Run(tmp.Path, "t", RunKinds.Launch, 20);
        Assert.Equal("./t", RunIndexer.Record(ws, db, Path.Combine(tmp.Path, "t"))!.Id);
        Assert.Equal(2, db.Count(ModelQuery.AllRuns));
    }

    [Fact]
    public void Trial_results_are_written_to_each_model_alike_and_survive_a_rebuild()
    {
        using var tmp = new TempDir("record");
        var ws = new WorkspacePaths(tmp.Path);
        Runs.Trained(tmp.Path, "a", "fp", new() { ["lr"] = 0.1, ["bs"] = 32 }, 1);
        Runs.Trained(tmp.Path, "b", "fp", new() { ["bs"] = 32, ["lr"] = 0.1 }, 2);
        Runs.Trained(tmp.Path, "c", "fp", new() { ["lr"] = 0.2 }, 3);
        RegistryRebuild.Run(ws);
        using (var db = RegistryDb.Open(ws))
        {
            var updated = Kiln.Registry.Models.TrialResults.Record(ws, db, "fp", new() { ["lr"] = 0.1, ["bs"] = 32.0 }, new() { ["accuracy"] = 0.8 });
            Assert.Equal(["b", "a"], updated.Select(r => r.Id));
            Assert.Equal(["c"], db.Untrialled("fp").Select(r => r.Id));
        }
        Assert.Equal("""{"accuracy":0.8}""", JsonNode.Parse(File.ReadAllText(Path.Combine(tmp.Path, "runs", "a", RunFiles.TrialResult)))!.ToJsonString());
        RegistryRebuild.Run(ws);
        using var rebuilt = RegistryDb.Open(ws);
        Assert.Equal(["c"], rebuilt.Untrialled("fp").Select(r => r.Id));
        Assert.Equal(0.8, (double)rebuilt.Get("b")!.TrialResult!["accuracy"]!);
    }

    [Fact]
    public void Ids_stay_unique_when_a_root_folder_shares_a_run_name()
    {
        using var tmp = new TempDir("rebuild");
        var ws = new WorkspacePaths(tmp.Path);
        Runs.Run(tmp.Path, "runs/x", RunKinds.Launch, 1);
        Runs.Run(tmp.Path, "x", RunKinds.Launch, 2);
        RegistryRebuild.Run(ws);
        using var db = RegistryDb.Open(ws);
        Assert.Equal(("runs/x", "x"), (db.Get("x")!.Dir, db.Get("./x")!.Dir));
    }

    [Fact]
    public void Experiment_runs_come_back_from_their_run_info_files()
    {
        using var tmp = new TempDir("rebuild");
        var ws = new WorkspacePaths(tmp.Path);
        ExperimentRunRecord Run(int n, string status) => new()
        {
            Reference = $"demo_{n}_2026-01-0{n}-T120000", Experiment = "demo", RunNumber = n, Started = 1_700_000_000 + n, Ended = 1_700_000_100 + n,
            Status = status, Params = new JsonObject { ["basic"] = new JsonArray(new JsonArray("small", "abc")) }, GitCommit = new string('a', 40), Dirty = true,
            SnapshotRef = "refs/kiln/snapshots/x", Cli = "experiment demo -p basic", Host = "h", Notes = "why", Reproduce = "experiment demo --dry-cache",
            Error = status == "failed" ? "stage Load failed" : null, Report = $"reports/demo_{n}_2026-01-0{n}-T120000",
        };
        var reported = Run(1, "completed");
        var storedOnly = Run(2, "failed") with { Report = null, FullStore = ".kiln/stores/demo_2_2026-01-02-T120000" };
        Write(Path.Combine(ws.Reports, reported.Reference, "run_info.json"), reported.ToJson().ToJsonString());
        Write(Path.Combine(ws.Stores, reported.Reference, "run_info.json"), reported.ToJson().ToJsonString());
        Write(Path.Combine(ws.Stores, storedOnly.Reference, "run_info.json"), storedOnly.ToJson().ToJsonString());
        Write(Path.Combine(ws.Reports, "torn", "run_info.json"), "{\"reference\": \"demo_3");
        using (var db = RegistryDb.Open(ws)) db.UpdateExperimentRun(Run(9, "running"));

        var report = RegistryRebuild.Run(ws);
        Assert.Equal(2, report.ExperimentRuns);
        Assert.Contains(report.Problems, p => p.Contains("torn", StringComparison.Ordinal));
        using var rebuilt = RegistryDb.Open(ws);
        Assert.Equal([storedOnly.ToJson().ToJsonString(), reported.ToJson().ToJsonString()], rebuilt.ExperimentRuns().Select(r => r.ToJson().ToJsonString()));
    }

    private static void Write(string path, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }
}
