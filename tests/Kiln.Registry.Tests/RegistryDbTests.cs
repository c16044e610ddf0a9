using System.Diagnostics;
using System.Text.Json.Nodes;
using Kiln.Registry.Records;
using Kiln.Registry.Store;
using Kiln.Testing;
using Microsoft.Data.Sqlite;

namespace Kiln.Registry.Tests;

public sealed class RegistryDbTests
{
    private static RunRecord Model(string id, string fingerprint, JsonObject parameters, double start, JsonObject? result = null, string kind = RunKinds.Train) => new()
    {
        Id = id, Kind = kind, Dir = "runs/" + id, Status = "completed", Start = start, End = start + 5,
        Params = parameters, Fingerprint = fingerprint, ArchitectureSummary = "Linear(4, 2)", Weights = $"runs/{id}/weights.safetensors",
        TrialResult = result, TrialledAt = result is null ? null : start + 100, Metrics = new() { ["loss"] = start / 100 },
    };

    private static long Scalar(string path, string sql)
    {
        using var c = new SqliteConnection($"Data Source={path};Pooling=False");
        c.Open();
        using var command = c.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public void A_new_registry_is_created_at_the_latest_schema_in_wal_mode()
    {
        using var tmp = new TempDir("registry");
        var path = Path.Combine(tmp.Path, ".kiln", "registry.db");
        using (var db = RegistryDb.Open(path))
        {
            Assert.Equal(Migrations.Latest, db.Version);
            Assert.Equal(0, db.Count(ModelQuery.AllRuns));
        }
        Assert.Equal(Migrations.Latest, Scalar(path, "PRAGMA user_version"));
        Assert.Equal(1, Scalar(path, "SELECT count(*) FROM sqlite_master WHERE name = 'runs'"));
        using var c = new SqliteConnection($"Data Source={path};Pooling=False");
        c.Open();
        using var mode = c.CreateCommand();
        mode.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", mode.ExecuteScalar());
        // Opening again migrates nothing.
        using (RegistryDb.Open(path)) { }
        Assert.Equal(Migrations.Latest, Scalar(path, "PRAGMA user_version"));
    }

    [Fact]
    public void Migrations_run_in_order_each_in_its_own_transaction()
    {
        using var tmp = new TempDir("registry");
        var path = tmp.File("r.db");
        string[] one = ["CREATE TABLE a (x INTEGER);"];
        using (var db = RegistryDb.Open(path, one)) Assert.Equal(1, db.Version);
        string[] three = [.. one, "ALTER TABLE a ADD COLUMN y TEXT;", "CREATE TABLE b (z INTEGER); INSERT INTO nope VALUES (1);"];
        // The third step fails: the second stays applied, nothing of the third is left.
        var ex = Assert.Throws<RegistryException>(() => RegistryDb.Open(path, three));
        Assert.Contains("no such table: nope", ex.Message);
        Assert.StartsWith(path + ": ", ex.Message);
        Assert.Equal(2, Scalar(path, "PRAGMA user_version"));
        Assert.Equal(0, Scalar(path, "SELECT count(*) FROM sqlite_master WHERE name = 'b'"));
        Assert.Equal(1, Scalar(path, "SELECT count(*) FROM pragma_table_info('a') WHERE name = 'y'"));
    }

    [Fact]
    public void A_registry_newer_than_this_kiln_is_refused_with_the_way_out()
    {
        using var tmp = new TempDir("registry");
        var path = tmp.File("r.db");
        using (RegistryDb.Open(path, [.. Migrations.Steps, "CREATE TABLE later (x);"])) { }
        var ex = Assert.Throws<RegistryException>(() => RegistryDb.Open(path));
        Assert.Equal($"{path}: the registry's schema is version {Migrations.Latest + 1}, and this kiln knows versions up to {Migrations.Latest}: " +
            "use a newer kiln, or `kiln registry rebuild` to recreate it for this one from the run folders", ex.Message);
    }

    [Fact]
    public void Records_round_trip_and_are_replaced_by_id()
    {
        using var tmp = new TempDir("registry");
        using var db = RegistryDb.Open(tmp.File("r.db"));
        var record = Model("a", "f1", new() { ["lr"] = 1e-3, ["bs"] = 32 }, 100, new() { ["acc"] = 0.9 }) with
        {
            Host = "h", Config = "mlp", Swept = new() { ["lr"] = 0.001 }, GitCommit = "c0ffee", Dirty = true, SnapshotRef = "refs/kiln/runs/a", Error = null,
        };
        db.Upsert(record);
        var back = db.Get("a")!;
        Assert.Equal(CanonicalJson.Of(record.ToJson()), CanonicalJson.Of(back.ToJson()));

        db.Upsert(record with { Status = "failed", Error = "boom" });
        Assert.Equal(("failed", "boom"), (db.Get("a")!.Status, db.Get("a")!.Error));
        Assert.Equal(1, db.Count(ModelQuery.AllRuns));

        var ex = Assert.Throws<RegistryException>(() => db.Upsert(record with { Dir = "elsewhere/a" }));
        Assert.Contains("run id 'a' already names the run in runs/a, not elsewhere/a", ex.Message);

        Assert.True(db.Delete("a"));
        Assert.False(db.Delete("a"));
        Assert.Null(db.Get("a"));
    }

    [Fact]
    public void The_json_the_database_makes_is_the_records_json()
    {
        using var tmp = new TempDir("registry");
        using var db = RegistryDb.Open(tmp.File("r.db"));
        var full = Model("a", "f1", new() { ["lr"] = 1e-3, ["name"] = "naïve \"x\"", ["layers"] = new JsonArray(1, 2) }, 100.5, new() { ["acc"] = 0.9 }) with
        {
            Host = "h", Config = "mlp", Swept = new() { ["lr"] = 0.001 }, GitCommit = "c0ffee", Dirty = false, SnapshotRef = "refs/kiln/runs/a", Error = "e",
        };
        var bare = new RunRecord { Id = "b", Kind = RunKinds.Launch, Dir = "runs/b", Status = "running" };
        db.UpsertAll([full, bare, full with { Id = "c", Dir = "runs/c", Dirty = true }]);
        foreach (var row in db.QueryJson(ModelQuery.AllRuns))
        {
            var record = db.Get(row.Id)!;
            Assert.Equal(CanonicalJson.Of(record.ToJson()), CanonicalJson.Of(JsonNode.Parse(row.Json)));
            Assert.Equal((record.Fingerprint, record.ArchitectureSummary, record.Start), (row.Fingerprint, row.Summary, row.Start));
        }
        Assert.Equal(["c", "a", "b"], db.QueryJson(ModelQuery.AllRuns).Select(r => r.Id));
    }

    [Fact]
    public void Duplicate_trainings_are_found_whatever_the_spelling_of_their_parameters()
    {
        using var tmp = new TempDir("registry");
        using var db = RegistryDb.Open(tmp.File("r.db"));
        db.UpsertAll([
            Model("old", "f1", new() { ["lr"] = 0.001, ["bs"] = 32 }, 100),
            Model("new", "f1", new() { ["bs"] = 32, ["lr"] = 1e-3 }, 200),
            Model("other-params", "f1", new() { ["bs"] = 64, ["lr"] = 1e-3 }, 300),
            Model("other-arch", "f2", new() { ["bs"] = 32, ["lr"] = 1e-3 }, 400),
            Model("unsaved", "f1", new() { ["bs"] = 32, ["lr"] = 1e-3 }, 500) with { Weights = null },
        ]);
        Assert.Equal(["new", "old"], db.FindTrainings("f1", """{"lr": 1.0e-3, "bs": 32.0}""").Select(r => r.Id));
        Assert.Equal(["new", "old"], db.FindTrainings("f1", new JsonObject { ["bs"] = 32, ["lr"] = 0.001 }).Select(r => r.Id));
        Assert.Empty(db.FindTrainings("f1", "{}"));
    }

    [Fact]
    public void A_trial_result_goes_to_every_model_trained_alike_and_untrialled_lists_the_rest_newest_first()
    {
        using var tmp = new TempDir("registry");
        using var db = RegistryDb.Open(tmp.File("r.db"));
        db.UpsertAll([
            Model("a", "f1", new() { ["lr"] = 0.1 }, 100),
            Model("b", "f1", new() { ["lr"] = 0.1 }, 200),
            Model("c", "f1", new() { ["lr"] = 0.2 }, 300),
            Model("d", "f1", new() { ["lr"] = 0.3 }, 50),
            Model("e", "f2", new() { ["lr"] = 0.1 }, 400),
        ]);
        Assert.Equal(["c", "b", "a", "d"], db.Untrialled("f1").Select(r => r.Id));
        Assert.Equal(2, db.SetTrialResult("f1", """{"lr":0.1}""", new() { ["acc"] = 0.75 }, at: 1000));
        Assert.Equal(["c", "d"], db.Untrialled("f1").Select(r => r.Id));
        Assert.Equal((0.75, 1000.0), ((double)db.Get("b")!.TrialResult!["acc"]!, db.Get("b")!.TrialledAt!.Value));
        Assert.Null(db.Get("e")!.TrialResult);
        Assert.Equal(0, db.SetTrialResult("f3", "{}", new() { ["acc"] = 1 }));
    }

    [Fact]
    public void Queries_filter_by_architecture_trial_parameters_kind_status_and_text_and_page_in_order()
    {
        using var tmp = new TempDir("registry");
        using var db = RegistryDb.Open(tmp.File("r.db"));
        db.UpsertAll([
            Model("a", "abc111", new() { ["lr"] = 0.1, ["opt"] = "adam", ["aug"] = true }, 100, new() { ["acc"] = 0.7 }),
            Model("b", "abc222", new() { ["lr"] = 0.2, ["opt"] = "sgd", ["aug"] = false }, 200),
            Model("c", "abd333", new() { ["lr"] = 1, ["opt"] = "adam", ["layers"] = new JsonArray(64, 32) }, 300, new() { ["acc"] = 0.9 }, kind: RunKinds.Queue),
            Model("d", "abc111", new() { ["lr"] = "0.1" }, 400) with { Status = "failed", Error = "out of memory" },
            new RunRecord { Id = "launch-1", Kind = RunKinds.Launch, Dir = "runs/launch-1", Status = "completed", Start = 500 },
        ]);
        IEnumerable<string> Ids(ModelQuery q) => db.Query(q).Select(r => r.Id);

        Assert.Equal(["d", "c", "b", "a"], Ids(new ModelQuery()));
        Assert.Equal(["launch-1", "d", "c", "b", "a"], Ids(ModelQuery.AllRuns));
        Assert.Equal(["d", "b", "a"], Ids(new ModelQuery { Architecture = "abc" }));
        Assert.Equal(["d", "a"], Ids(new ModelQuery { Architecture = "abc111" }));
        Assert.Empty(Ids(new ModelQuery { Architecture = "ab*" }));
        Assert.Equal(["c", "a"], Ids(new ModelQuery { Trialled = true }));
        Assert.Equal(["d", "b"], Ids(new ModelQuery { Trialled = false }));
        // JSON values: the number 0.1, not the text "0.1"; 1 matches 1.0; booleans and arrays by value.
        Assert.Equal(["a"], Ids(new ModelQuery { Params = new() { ["lr"] = 0.1 } }));
        Assert.Equal(["d"], Ids(new ModelQuery { Params = new() { ["lr"] = "0.1" } }));
        Assert.Equal(["c"], Ids(new ModelQuery { Params = new() { ["lr"] = 1.0 } }));
        Assert.Equal(["c", "a"], Ids(new ModelQuery { Params = new() { ["opt"] = "adam" } }));
        Assert.Equal(["b"], Ids(new ModelQuery { Params = new() { ["aug"] = false } }));
        Assert.Equal(["c"], Ids(new ModelQuery { Params = new() { ["layers"] = new JsonArray(64, 32) } }));
        Assert.Equal(["a"], Ids(new ModelQuery { Params = new() { ["opt"] = "adam", ["lr"] = 0.1 } }));
        Assert.Equal(["c"], Ids(new ModelQuery { Kinds = [RunKinds.Queue] }));
        Assert.Equal(["d"], Ids(new ModelQuery { Statuses = ["failed"] }));
        Assert.Equal(["d"], Ids(new ModelQuery { Text = "MEMORY" }));
        Assert.Equal(["c"], Ids(new ModelQuery { Text = "abd333" }));
        Assert.Equal(["b"], Ids(new ModelQuery { Text = "sgd" }));
        Assert.Empty(Ids(new ModelQuery { Text = "%" }));

        Assert.Equal(["a", "b", "c", "d"], Ids(new ModelQuery { Descending = false }));
        Assert.Equal(["d", "c", "b", "a"], Ids(new ModelQuery { Sort = "param.lr" }));   // "0.1" is text: SQLite sorts text above numbers
        Assert.Equal(["c", "a", "d", "b"], Ids(new ModelQuery { Sort = "result.acc" }));  // untrialled last, by id
        Assert.Equal(["c", "b"], Ids(new ModelQuery { Limit = 2, Offset = 1 }));
        Assert.Equal(4, db.Count(new ModelQuery { Limit = 1 }));
        Assert.Throws<ArgumentException>(() => db.Query(new ModelQuery { Sort = "size" }));
    }

    [Fact]
    public void Garbage_in_place_of_the_registry_is_named_with_the_way_to_recover()
    {
        using var tmp = new TempDir("registry");
        var path = tmp.File("registry.db");
        File.WriteAllBytes(path, [.. Enumerable.Range(0, 5000).Select(i => (byte)(i * 7919 % 251))]);
        var ex = Assert.Throws<RegistryException>(() => RegistryDb.Open(path));
        Assert.Equal($"{path}: the registry is damaged or is not an SQLite database (error 26: 'file is not a database'.); " +
            "`kiln registry rebuild` recreates it from the run folders", ex.Message);
    }

    [Fact]
    public void A_truncated_registry_is_named_with_the_way_to_recover()
    {
        using var tmp = new TempDir("registry");
        var path = tmp.File("registry.db");
        using (var db = RegistryDb.Open(path))
        {
            db.UpsertAll(Enumerable.Range(0, 2000).Select(i => Model($"r{i:0000}", $"f{i % 7}", new() { ["i"] = i, ["pad"] = new string('x', 200) }, i)));
        }
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > 100_000, $"{bytes.Length} bytes");
        File.WriteAllBytes(path, bytes[..(bytes.Length / 3)]);
        var ex = Assert.Throws<RegistryException>(() =>
        {
            using var db = RegistryDb.Open(path);
            db.Query(ModelQuery.AllRuns);
        });
        Assert.StartsWith($"{path}: the registry is damaged or is not an SQLite database (", ex.Message);
        Assert.EndsWith("; `kiln registry rebuild` recreates it from the run folders", ex.Message);
    }

    [Fact]
    public void Two_processes_writing_at_once_lose_nothing()
    {
        using var tmp = new TempDir("registry");
        var path = tmp.File("registry.db");
        using (RegistryDb.Open(path)) { }
        var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h : "dotnet";
        var writers = new[] { "one", "two" }.Select(prefix =>
        {
            var info = new ProcessStartInfo(host) { RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { "exec", typeof(Program).Assembly.Location, "write", path, prefix, "200" }) info.ArgumentList.Add(a);
            return Process.Start(info)!;
        }).ToList();
        foreach (var w in writers)
        {
            var stderr = w.StandardError.ReadToEnd();
            Assert.True(w.WaitForExit(120_000), "a writer did not finish");
            Assert.True(w.ExitCode == 0, $"writer exited {w.ExitCode}: {stderr}");
        }
        using var db = RegistryDb.Open(path);
        Assert.Equal(400, db.Count(ModelQuery.AllRuns));
        Assert.Equal(200, db.Untrialled("one").Count);
        Assert.Equal(200, db.Untrialled("two").Count);
    }
}
