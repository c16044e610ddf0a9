using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Protocol;
using Kiln.Testing;
using Kiln.Trials.Expansion;

namespace Kiln.Trials.Tests;

/// <summary>A cfg/ tree written file by file.</summary>
public sealed class Tree : IDisposable
{
    private readonly TempDir _dir = new("tree");

    public string Root => _dir.Path;

    public Tree Cfg(string relative, string yaml)
    {
        var path = Path.Combine(Root, "cfg", relative, "cfg.yaml");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, yaml);
        return this;
    }

    public string Trial(string relative) => Path.Combine(Root, "out", "log", relative);

    public JsonObject Config(string trial) => (JsonObject)YamlJson.ParseFile(Path.Combine(Trial(trial), "cfg.yaml"))!;

    public ExpansionResult Expand(TrialFilter? filter = null) => TreeExpander.Expand(Root, filter);

    public void Dispose() => _dir.Dispose();
}

public sealed class ExpansionTests
{
    [Fact]
    public void Leaves_inherit_from_every_ancestor_and_lists_become_trials_but_batch_metrics_stays_whole()
    {
        using var tree = new Tree()
            .Cfg("", "epochs: 1\n")
            .Cfg("sweep", "seed: 0\nlr: 0.1\n")
            .Cfg("sweep/fmnist/mlp/adam", "lr: [0.1, 0.01]\nbatch_metrics: [loss, acc]\n");
        var result = tree.Expand();
        Assert.Empty(result.Errors);
        var leaf = Assert.Single(result.Leaves);
        Assert.Equal(["lr"], leaf.Axes);
        Assert.Equal(2, leaf.Trials.Count);
        var t0 = tree.Config("sweep/fmnist/mlp/adam/trial_000");
        var t1 = tree.Config("sweep/fmnist/mlp/adam/trial_001");
        Assert.Equal("""{"epochs":1,"seed":0,"lr":0.1,"batch_metrics":["loss","acc"]}""", t0.ToJsonString());
        Assert.Equal(0.01, (double)t1["lr"]!);
        Assert.Equal("""{"lr":0.01}""", JsonNode.Parse(File.ReadAllText(Path.Combine(tree.Trial("sweep/fmnist/mlp/adam/trial_001"), TreeExpander.TrialFile)))!["swept"]!.ToJsonString());
    }

    [Fact]
    public void Merging_is_shallow()
    {
        using var tree = new Tree()
            .Cfg("sweep", "seed: 1\nopt: {lr: 1, m: 0.9}\n")
            .Cfg("sweep/d/m/t", "opt: {lr: 2}\n");
        tree.Expand();
        Assert.Equal("""{"lr":2}""", tree.Config("sweep/d/m/t/trial_000")["opt"]!.ToJsonString());
    }

    [Fact]
    public void The_product_runs_in_key_order_with_the_last_axis_fastest()
    {
        using var tree = new Tree().Cfg("sweep/d/m/t", "seed: 0\na: [1, 2]\nb: [x, y, z]\n");
        var leaf = Assert.Single(tree.Expand().Leaves);
        Assert.Equal(["a", "b"], leaf.Axes);
        Assert.Equal(["1x", "1y", "1z", "2x", "2y", "2z"], leaf.Trials.Select(t => $"{t.Swept["a"]}{t.Swept["b"]}"));
        Assert.Equal(Enumerable.Range(0, 6).Select(i => $"trial_00{i}"), Directory.GetDirectories(tree.Trial("sweep/d/m/t")).Select(Path.GetFileName).Order());
        Assert.Equal("x", (string?)tree.Config("sweep/d/m/t/trial_003")["b"]);
    }

    [Fact]
    public void A_config_without_lists_is_one_trial()
    {
        using var tree = new Tree().Cfg("experiment/d/m/t", "seed: 3\nlr: 0.5\n");
        var leaf = Assert.Single(tree.Expand().Leaves);
        Assert.Single(leaf.Trials);
        Assert.True(File.Exists(Path.Combine(tree.Trial("experiment/d/m/t/trial_000"), "cfg.yaml")));
    }

    [Fact]
    public void Experiments_sweep_seeds()
    {
        using var tree = new Tree().Cfg("experiment/d/m/t", "seed: [1, 2, 3]\nlr: 0.5\n");
        Assert.Equal([1L, 2L, 3L], Assert.Single(tree.Expand().Leaves).Trials.Select(t => (long)t.Config["seed"]!));
    }

    [Theory]
    [InlineData("experiment", "seed: 0\nlr: [0.1, 0.2]\n", "cfg/experiment/d/m/t/cfg.yaml: lr: experiment mode sweeps only the seed; lr must be a scalar")]
    [InlineData("sweep", "seed: [0, 1]\n", "cfg/sweep/d/m/t/cfg.yaml: seed: sweep mode needs a scalar seed, got a list of 2")]
    [InlineData("sweep", "lr: 0.1\n", "cfg/sweep/d/m/t/cfg.yaml: seed: missing")]
    [InlineData("grid", "seed: 0\n", "unknown mode \"grid\"")]
    [InlineData("sweep", "seed: 0\nlr: []\n", "cfg/sweep/d/m/t/cfg.yaml: lr: an empty list makes no trials")]
    [InlineData("sweep", "seed: 0\nlr: [0.1\n", "cfg/sweep/d/m/t/cfg.yaml: line 3")]
    [InlineData("sweep", "- 1\n- 2\n", "cfg/sweep/d/m/t/cfg.yaml: expected a mapping of keys")]
    public void Rule_violations_name_the_file_and_the_key(string mode, string yaml, string error)
    {
        using var tree = new Tree().Cfg($"{mode}/d/m/t", yaml).Cfg("sweep/ok/m/t", "seed: 0\n");
        var result = tree.Expand();
        var message = Assert.Single(result.Errors);
        Assert.Contains(error.Replace('/', Path.DirectorySeparatorChar), message);
        Assert.Single(result.Leaves, l => l.Dataset == "ok");
    }

    [Fact]
    public void The_file_that_set_a_key_is_the_one_named()
    {
        using var tree = new Tree().Cfg("experiment", "seed: 0\nwd: [0, 1]\n").Cfg("experiment/d/m/t", "lr: 1\n");
        Assert.StartsWith(Path.Combine("cfg", "experiment", "cfg.yaml") + ": wd:", Assert.Single(tree.Expand().Errors));
    }

    [Fact]
    public void Config_files_below_the_trainer_level_are_an_error()
    {
        using var tree = new Tree().Cfg("sweep/d/m/t/extra", "seed: 0\n");
        Assert.Contains("too deep", Assert.Single(tree.Expand().Errors));
    }

    [Fact]
    public void Re_expansion_rewrites_changed_configs_keeps_logs_and_reports_surplus_and_stale_trials()
    {
        using var tree = new Tree().Cfg("sweep", "seed: 0\nlr: 1\n").Cfg("sweep/d/m/t", "wd: [0, 1, 2]\n");
        var first = Assert.Single(tree.Expand().Leaves);
        Assert.Equal(3, first.Written);
        Assert.Equal(0, Assert.Single(tree.Expand().Leaves).Written);

        // trial_000 ran with this configuration and finished.
        var done = tree.Trial("sweep/d/m/t/trial_000");
        File.WriteAllText(Path.Combine(done, TrialPaths.BatchLog), "epoch,mode,batch,loss\n0,train,0,1\n");
        var hash = TreeExpander.Hash(File.ReadAllText(Path.Combine(done, "cfg.yaml")));
        AtomicFile.WriteJson(Path.Combine(done, RunFiles.Run), new RunInfo { Id = "t", Kind = "trial", Status = RunInfo.Completed, Params = new() { ["cfg_sha256"] = hash } }.ToJson());

        tree.Cfg("sweep", "seed: 0\nlr: 2\n").Cfg("sweep/d/m/t", "wd: [0, 1]\n");
        var again = Assert.Single(tree.Expand().Leaves);
        Assert.Equal(2, again.Written);
        Assert.Equal(2, (long)tree.Config("sweep/d/m/t/trial_001")["lr"]!);
        Assert.Equal(["trial_002"], again.Surplus);
        Assert.True(Directory.Exists(tree.Trial("sweep/d/m/t/trial_002")));
        Assert.Equal(["sweep/d/m/t/trial_000"], again.Stale);
        Assert.True(File.Exists(Path.Combine(done, TrialPaths.BatchLog)));
    }

    [Fact]
    public void Filters_touch_only_the_modes_and_datasets_asked_for()
    {
        using var tree = new Tree()
            .Cfg("sweep/mnist/m/t", "seed: 0\n").Cfg("sweep/cifar/m/t", "seed: 0\n").Cfg("experiment/mnist/m/t", "seed: [0, 1]\n");
        var result = tree.Expand(new TrialFilter(["sweep"], ["mnist"]));
        Assert.Equal(["sweep/mnist"], result.Leaves.Select(l => $"{l.Mode}/{l.Dataset}"));
        Assert.False(Directory.Exists(tree.Trial("sweep/cifar")));
        Assert.False(Directory.Exists(tree.Trial("experiment")));
    }

    [Fact]
    public void Large_grids_number_their_trials_wide_enough()
    {
        using var tree = new Tree().Cfg("sweep/d/m/t", "seed: 0\na: [" + string.Join(", ", Enumerable.Range(0, 40)) + "]\nb: [" + string.Join(", ", Enumerable.Range(0, 30)) + "]\n");
        var leaf = Assert.Single(tree.Expand().Leaves);
        Assert.Equal(1200, leaf.Trials.Count);
        Assert.Equal("trial_0000", Path.GetFileName(leaf.Trials[0].Dir));
        Assert.Equal("trial_1199", Path.GetFileName(leaf.Trials[^1].Dir));
    }

    [Fact]
    public void Written_configs_read_back_to_the_resolved_values()
    {
        using var tree = new Tree().Cfg("sweep/d/m/t", """
            seed: 7
            name: "yes"
            path: a/b.c
            note: "two words: here"
            nested: {k: [1, 2.5, -3e-05], flag: true, none: null, odd: ["true", "1e3", ""]}
            lr: [1.0e-4, 3]
            """);
        var spec = Assert.Single(tree.Expand().Leaves).Trials[0];
        Assert.True(JsonNode.DeepEquals(spec.Config, tree.Config("sweep/d/m/t/trial_000")), tree.Config("sweep/d/m/t/trial_000").ToJsonString());
        Assert.Contains("# swept: lr=0.0001", File.ReadAllText(Path.Combine(spec.Dir, "cfg.yaml")));
    }
}
