using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Cli.Tests;

/// <summary><c>kiln workspace init|deinit</c>, <c>kiln models</c> and <c>kiln registry rebuild</c> as real processes.</summary>
public sealed class WorkspaceCliTests
{
    private static Dictionary<string, string> Hashes(string root) =>
        Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories).ToDictionary(
            p => Path.GetRelativePath(root, p),
            p => File.Exists(p) ? Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(p))) : "dir");

    /// <summary>A training folder as <c>kiln train</c> leaves it: its record, and what the trainer reported through the SDK.</summary>
    private static void Trained(string root, string id, string fingerprint, string parameters, double start, string? result = null, string kind = "train")
    {
        var dir = Path.Combine(root, "runs", id);
        Directory.CreateDirectory(dir);
        AtomicFile.WriteJson(Path.Combine(dir, RunFiles.Run), new RunInfo { Id = id, Kind = kind, Status = RunInfo.Completed, Start = start, End = start + 60 }.ToJson());
        File.WriteAllText(Path.Combine(dir, RunFiles.Model), $$"""{"fingerprint": "{{fingerprint}}", "summary": "Sequential(\n  Linear(784, {{fingerprint.Length * 8}})\n)"}""");
        File.WriteAllText(Path.Combine(dir, RunFiles.Params), parameters);
        File.WriteAllBytes(Path.Combine(dir, RunFiles.Weights), [0]);
        if (result is not null) File.WriteAllText(Path.Combine(dir, RunFiles.TrialResult), result);
    }

    [Fact]
    public void Init_twice_says_what_exists_and_changes_nothing()
    {
        using var dir = new TempDir("workspace");
        var first = KilnProcess.Run(dir.Path, "workspace", "init", "--name", "fmnist");
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Contains("kiln.json created (name \"fmnist\", train: dotnet run --project train", first.Stdout);
        Assert.Contains($".kiln/registry.db created (schema version {(global::Kiln.Registry.Store.Migrations.Latest)})", first.Stdout);
        Assert.Contains("fmnist.csproj created", first.Stdout);
        Assert.Equal("fmnist", (string?)JsonNode.Parse(File.ReadAllText(Path.Combine(dir.Path, "kiln.json")))!["name"]);

        var before = Hashes(dir.Path);
        var second = KilnProcess.Run(dir.Path, "workspace", "init");
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Contains("kiln.json exists, kept", second.Stdout);
        Assert.Contains(".kiln/registry.db exists, kept", second.Stdout);
        Assert.Contains("runs/ exists, kept", second.Stdout);
        Assert.Contains("nothing changed: the workspace was complete", second.Stdout);
        Assert.DoesNotContain(" created", second.Stdout);
        Assert.Equal(before, Hashes(dir.Path));
    }

    [Fact]
    public void Deinit_asks_first_refuses_without_a_terminal_and_keeps_the_users_work()
    {
        using var dir = new TempDir("workspace");
        KilnProcess.Run(dir.Path, "workspace", "init", "--name", "w");
        Trained(dir.Path, "t1", "fp", "{}", 1);
        var before = Hashes(dir.Path);

        var refused = KilnProcess.Run(dir.Path, "workspace", "deinit");
        Assert.True(refused.ExitCode == 1, refused.ToString());
        Assert.Contains("will remove:\n  kiln.json", refused.Stdout);
        Assert.Contains("  .kiln/registry.db  (the registry,", refused.Stdout);
        Assert.Contains("will keep:", refused.Stdout);
        Assert.Contains("  runs/  (your work)", refused.Stdout);
        Assert.Contains("  w.csproj  (delete it yourself if you no longer want it)", refused.Stdout);
        Assert.Contains("kiln: error: nothing removed: there is no terminal to ask on; run `kiln workspace deinit --yes`", refused.Stderr);
        Assert.Equal(before, Hashes(dir.Path));

        var removed = KilnProcess.Run(Path.Combine(dir.Path, "runs"), "workspace", "deinit", "--yes");
        Assert.True(removed.ExitCode == 0, removed.ToString());
        Assert.Contains("removed kiln.json, .kiln/cache/, .kiln/jobs/, .kiln/models/, .kiln/registry.db", removed.Stdout);
        Assert.False(File.Exists(Path.Combine(dir.Path, "kiln.json")));
        Assert.False(Directory.Exists(Path.Combine(dir.Path, ".kiln")));
        Assert.True(File.Exists(Path.Combine(dir.Path, "runs", "t1", RunFiles.Weights)));
        Assert.True(File.Exists(Path.Combine(dir.Path, "w.csproj")));

        var outside = KilnProcess.Run(dir.Path, "workspace", "deinit", "--yes");
        Assert.Equal(1, outside.ExitCode);
        Assert.Contains($"{dir.Path}: not in a Kiln workspace (no kiln.json here or in a folder above); `kiln workspace init` creates one", outside.Stderr);
    }

    [Fact]
    public void Models_are_grouped_by_architecture_newest_first_and_filtered()
    {
        using var dir = new TempDir("models");
        KilnProcess.Run(dir.Path, "workspace", "init");
        Trained(dir.Path, "a1", "aaaa", """{"learning_rate": 0.001, "batch_size": 32}""", 100, """{"accuracy": 0.91}""");
        Trained(dir.Path, "b1", "bbbbbb", """{"learning_rate": 1e-2}""", 200);
        Trained(dir.Path, "a2", "aaaa", """{"batch_size": 64, "learning_rate": 0.001}""", 300, kind: "queue");
        var rebuild = KilnProcess.Run(dir.Path, "registry", "rebuild");
        Assert.True(rebuild.ExitCode == 0, rebuild.ToString());
        Assert.Matches(@"^rebuilt \.kiln/registry\.db from the run folders: 3 runs, 3 models \(1 trialled\), 0 experiment runs in [\d.]+ s\n$", rebuild.Stdout);

        var list = KilnProcess.Run(Path.Combine(dir.Path, "cfg"), "models");
        Assert.True(list.ExitCode == 0, list.ToString());
        var text = list.Stdout;
        Assert.True(text.IndexOf("architecture aaaa", StringComparison.Ordinal) < text.IndexOf("architecture bbbbbb", StringComparison.Ordinal), text);
        Assert.True(text.IndexOf("  a2  queue", StringComparison.Ordinal) < text.IndexOf("  a1  train", StringComparison.Ordinal), text);
        Assert.Contains("architecture aaaa  2 models, newest 1970-01-01 00:05:00Z\n  Sequential(\n    Linear(784, 32)\n  )\n", text);
        Assert.Contains("    params:\n      BATCH SIZE  LEARNING RATE\n      32          0.001\n    trial result:\n      ACCURACY\n      0.91\n", text);
        Assert.Contains("    params:\n      LEARNING RATE\n      0.01\n    trial result: not trialled yet\n", text);
        Assert.Equal(1, text.Split("Linear(784, 32)").Length - 1);   // the summary once per architecture

        JsonObject Json(params string[] args)
        {
            var r = KilnProcess.Run(dir.Path, ["models", "--json", .. args]);
            Assert.True(r.ExitCode == 0, r.ToString());
            return JsonNode.Parse(r.Stdout)!.AsObject();
        }
        var all = Json();
        Assert.Equal(3, (int)all["count"]!);
        Assert.Equal(dir.Path, (string?)all["workspace"]);
        var groups = all["groups"]!.AsArray();
        Assert.Equal(["aaaa", "bbbbbb"], groups.Select(g => (string?)g!["fingerprint"]));
        var newest = groups[0]!["models"]![0]!;
        Assert.Equal(("a2", "queue", "runs/a2", "completed"), ((string?)newest["id"], (string?)newest["kind"], (string?)newest["dir"], (string?)newest["status"]));
        Assert.Equal("runs/a2/weights.safetensors", (string?)newest["weights"]);
        Assert.Equal(64, (int)newest["params"]!["batch_size"]!);
        Assert.Null(newest["trial_result"]);
        Assert.Equal(0.91, (double)groups[0]!["models"]![1]!["trial_result"]!["accuracy"]!);

        IEnumerable<string?> Ids(JsonObject o) => o["groups"]!.AsArray().SelectMany(g => g!["models"]!.AsArray()).Select(m => (string?)m!["id"]);
        Assert.Equal(["a1"], Ids(Json("--trialled")));
        Assert.Equal(["a2", "b1"], Ids(Json("--untrialled")));
        Assert.Equal(["b1"], Ids(Json("--architecture", "bb")));
        Assert.Equal(["a2", "a1"], Ids(Json("--param", "learning_rate=1e-3")));
        Assert.Equal(["a2"], Ids(Json("--param", "learning_rate=0.001", "--param", "batch_size=64")));
        Assert.Equal(["a2"], Ids(Json("--kind", "queue")));
        Assert.Equal(["a2"], Ids(Json("--limit", "1")));
        Assert.Empty(Ids(Json("--param", "learning_rate=0.5")));
        var none = KilnProcess.Run(dir.Path, "models", "--param", "learning_rate=0.5");
        Assert.Contains("kiln: warning: no model matches", none.Stderr);
    }

    [Fact]
    public void A_damaged_registry_is_named_and_rebuild_recovers_it()
    {
        using var dir = new TempDir("models");
        KilnProcess.Run(dir.Path, "workspace", "init");
        Trained(dir.Path, "a1", "aaaa", "{}", 100);
        var db = Path.Combine(dir.Path, ".kiln", "registry.db");
        File.WriteAllText(db, new string('#', 10_000));

        var broken = KilnProcess.Run(dir.Path, "models");
        Assert.Equal(1, broken.ExitCode);
        Assert.Equal($"kiln: error: {db}: the registry is damaged or is not an SQLite database (error 26: 'file is not a database'.); " +
            "`kiln registry rebuild` recreates it from the run folders\n", broken.Stderr);

        var rebuild = KilnProcess.Run(dir.Path, "registry", "rebuild");
        Assert.True(rebuild.ExitCode == 0, rebuild.ToString());
        Assert.Matches(@"kiln: warning: the registry was damaged: set aside as \.kiln/registry\.db\.corrupt-\d{8}-\d{6}", rebuild.Stderr);
        Assert.Contains("1 run, 1 model (0 trialled)", rebuild.Stdout);
        Assert.Single(Directory.EnumerateFiles(Path.Combine(dir.Path, ".kiln"), "registry.db.corrupt-*"));

        var list = KilnProcess.Run(dir.Path, "models", "--json");
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Equal(1, (int)JsonNode.Parse(list.Stdout)!["count"]!);
    }
}
