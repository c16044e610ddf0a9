using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Registry.Git;
using Kiln.Testing;

namespace Kiln.Registry.Tests;

public sealed class GitDiffTests
{
    [Fact]
    public void Two_snapshots_differ_by_a_stat_a_patch_and_a_list_of_files()
    {
        using var repo = new TestRepo();
        var a = GitSnapshot.Take(repo.Path, "a", "m");
        repo.Write("train.py", "print('train')\nprint('longer')\n");
        repo.Write("src/new loss é.py", "def loss(): ...\n");
        File.Delete(repo.File("src/model.py"));
        var b = GitSnapshot.Take(repo.Path, "b", "m");

        var diff = GitDiff.Between(repo.Path, a, b);
        Assert.False(diff.ToWorkingTree);
        Assert.Equal(a.Commit, diff.From);
        Assert.Contains("train.py", diff.Stat, StringComparison.Ordinal);
        Assert.Contains("3 files changed", diff.Stat, StringComparison.Ordinal);
        Assert.Contains("+print('longer')", diff.Patch, StringComparison.Ordinal);
        Assert.Contains("src/new loss é.py", diff.Patch, StringComparison.Ordinal);
        Assert.Equal(
            [new FileChange("src/model.py", 0, 1), new FileChange("src/new loss é.py", 1, 0), new FileChange("train.py", 1, 0)],
            diff.Files);
        Assert.True(GitDiff.Between(repo.Path, a, a).IsEmpty);
    }

    [Fact]
    public void Against_the_working_tree_untracked_files_count_and_the_index_is_not_touched()
    {
        using var repo = new TestRepo();
        var a = GitSnapshot.Take(repo.Path, "a", "m");
        repo.Write("train.py", "changed\n");
        repo.Write("fresh.py", "new file\n");
        repo.Write("x.log", "ignored\n");
        repo.Write("runs/a/kiln.metrics.jsonl", "{}\n");
        var before = repo.State();
        var diff = GitDiff.AgainstWorkingTree(repo.Path, a, [repo.File("runs")]);
        Assert.Equal(before, repo.State());
        Assert.True(diff.ToWorkingTree);
        Assert.Equal(["fresh.py", "train.py"], diff.Files.Select(f => f.Path));
        Assert.Contains("+new file", diff.Patch, StringComparison.Ordinal);
    }

    [Fact]
    public void A_binary_file_has_no_line_counts()
    {
        using var repo = new TestRepo();
        var a = GitSnapshot.Take(repo.Path, "a", "m");
        File.WriteAllBytes(repo.File("w.bin"), [0, 1, 2, 0, 255]);
        var diff = GitDiff.AgainstWorkingTree(repo.Path, a);
        Assert.Equal(new FileChange("w.bin", null, null), Assert.Single(diff.Files));
    }

    [Fact]
    public void Params_differ_by_keys_added_removed_and_changed_nested_ones_by_dotted_keys()
    {
        var from = JsonNode.Parse("""{"lr": 0.1, "epochs": 5, "opt": {"name": "adam", "beta": 0.9}, "seed": 1}""")!.AsObject();
        var to = JsonNode.Parse("""{"lr": 0.01, "epochs": 5, "opt": {"name": "adam", "wd": 0.01}, "layers": [64, 32]}""")!.AsObject();
        var diff = ParamsDiff.Compare(from, to);
        Assert.Equal(["layers", "opt.wd"], diff.Added.Select(c => c.Key));
        Assert.Equal(["opt.beta", "seed"], diff.Removed.Select(c => c.Key));
        var changed = Assert.Single(diff.Changed);
        Assert.Equal("lr", changed.Key);
        Assert.Equal(0.1, changed.From!.GetValue<double>());
        Assert.Equal(0.01, changed.To!.GetValue<double>());
        Assert.Equal("""{"added":{"layers":[64,32],"opt.wd":0.01},"removed":{"opt.beta":0.9,"seed":1},"changed":{"lr":{"from":0.1,"to":0.01}}}""",
            diff.ToJson().ToJsonString());
        Assert.True(ParamsDiff.Compare(from, from).IsEmpty);
    }

    [Fact]
    public void A_run_s_params_come_from_kiln_params_json_else_from_kiln_run_json()
    {
        using var tmp = new TempDir("params");
        var a = tmp.Sub("a");
        File.WriteAllText(Path.Combine(a, RunFiles.Params), """{"lr": 0.1}""");
        Assert.Equal("""{"lr":0.1}""", ParamsDiff.Read(a)!.ToJsonString());
        var b = tmp.Sub("b");
        File.WriteAllText(Path.Combine(b, RunFiles.Params), """{"params": {"lr": 0.2}}""");
        Assert.Equal("""{"lr":0.2}""", ParamsDiff.Read(b)!.ToJsonString());
        var c = tmp.Sub("c");
        File.WriteAllText(Path.Combine(c, RunFiles.Run), """{"id": "c", "kind": "train", "params": {"lr": 0.3}}""");
        Assert.Equal("""{"lr":0.3}""", ParamsDiff.Read(c)!.ToJsonString());
        var d = tmp.Sub("d");
        File.WriteAllText(Path.Combine(d, RunFiles.Params), "{torn");
        Assert.Null(ParamsDiff.Read(d));
        Assert.Null(ParamsDiff.Read(tmp.Sub("e")));
    }
}
