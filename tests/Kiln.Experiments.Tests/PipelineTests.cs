using Kiln.Experiments.Caching;
using Kiln.Experiments.Pipeline;

namespace Kiln.Experiments.Tests;

/// <summary>curifactory's acceptance behaviours (reference §7) under Kiln's rules, and the cache key's promises.</summary>
[Collection("stages")]
public class PipelineTests : IDisposable
{
    private readonly Pipelines _p = new();

    public PipelineTests() => Stages.Reset();

    public void Dispose() => _p.Dispose();

    private ExperimentManager Chain(Func<ExperimentOptions, ExperimentOptions>? change = null, P? p = null)
    {
        var m = _p.Manager(change);
        new Record(m, p ?? new P { Name = "one", A = 1, B = 2 }).Run(Stages.Thing1).Run(Stages.Thing2).Run(Stages.Leaf);
        m.Execute();
        Assert.Empty(m.Failures);
        return m;
    }

    private static StageNode Node(ExperimentManager m, string stage) => m.Nodes.Single(n => n.Stage.Name == stage);

    [Fact]
    public void A_second_run_finds_everything_cached_and_runs_only_the_leaf_without_outputs()
    {
        Chain();
        Assert.Equal((1, 1, 1), (Stages.Count("thing1"), Stages.Count("thing2"), Stages.Count("leaf")));
        var again = Chain();
        Assert.Equal((1, 1, 2), (Stages.Count("thing1"), Stages.Count("thing2"), Stages.Count("leaf")));
        Assert.Equal(StageStatus.Cached, Node(again, "Thing1").Status);
        Assert.Equal(StageStatus.Cached, Node(again, "Thing2").Status);
    }

    [Fact]
    public void The_map_pass_runs_no_stage_body_and_says_why_each_stage_would_run()
    {
        var m = _p.Manager();
        new Record(m, new P { A = 1, B = 2 }).Run(Stages.Thing1).Run(Stages.Thing2);
        var map = m.Map();
        Assert.Empty(Stages.Calls);
        Assert.Equal(StageStatus.Run, map[0].Status);
        Assert.Equal(RunReasons.New, map[0].Reason);
        Assert.Equal(StageStatus.Pending, map[1].Status);
        Assert.Empty(_p.CacheFiles());
    }

    [Fact]
    public void Reading_a_value_during_the_map_pass_is_refused_with_advice()
    {
        var m = _p.Manager();
        var r = new Record(m, new P { A = 1 }).Run(Stages.Thing1);
        var ex = Assert.Throws<StageSignatureException>(() => r.Get<int[]>("thing1"));
        Assert.Contains("--no-dag", ex.Message, StringComparison.Ordinal);
        m.Execute();
        Assert.Equal([1, 0], r.Get<int[]>("thing1"));
    }

    [Fact]
    public void No_dag_runs_each_stage_when_called()
    {
        var m = _p.Manager(o => o with { NoDag = true });
        var r = new Record(m, new P { A = 4, B = 5 }).Run(Stages.Thing1);
        Assert.Equal(1, Stages.Count("thing1"));
        Assert.Equal([4, 5], r.Get<int[]>("thing1"));
    }

    [Fact]
    public void Overwrite_stage_reruns_it_and_downstream_only_when_its_output_changes()
    {
        Chain();
        // thing1 recomputed, identical output: thing2's inputs are unchanged, so it stays cached (early cutoff).
        var same = Chain(o => o with { OverwriteStages = new HashSet<string> { "Thing1" } });
        Assert.Equal((2, 1), (Stages.Count("thing1"), Stages.Count("thing2")));
        Assert.Equal(StageStatus.Cached, Node(same, "Thing2").Status);
        // thing1 recomputed with a different output: thing2 reads different data, so it re-runs (curifactory #86).
        Stages.Offset = 10;
        var changed = Chain(o => o with { OverwriteStages = new HashSet<string> { "Thing1" } });
        Assert.Equal((3, 2), (Stages.Count("thing1"), Stages.Count("thing2")));
        Assert.Equal(StageStatus.Executed, Node(changed, "Thing2").Status);
        Assert.Equal(13, changed.Records[0].Get<int>("thing2"));
    }

    [Fact]
    public void Overwriting_the_downstream_stage_reruns_only_it()
    {
        Chain();
        Chain(o => o with { OverwriteStages = new HashSet<string> { "Thing2" } });
        Assert.Equal((1, 2), (Stages.Count("thing1"), Stages.Count("thing2")));
        Chain(o => o with { Overwrite = true });
        Assert.Equal((2, 3), (Stages.Count("thing1"), Stages.Count("thing2")));
    }

    [Fact]
    public void A_cached_downstream_stage_needs_no_upstream_artifact_whose_version_is_recorded()
    {
        Chain();
        foreach (var f in _p.CacheFiles("*_Thing1_thing1.json")) File.Delete(f);
        var m = Chain();
        Assert.Equal((1, 1), (Stages.Count("thing1"), Stages.Count("thing2")));
        Assert.Equal(StageStatus.Known, Node(m, "Thing1").Status);
        // ...and when it is read, it is computed then.
        Assert.Equal([1, 2], m.Records[0].Get<int[]>("thing1"));
        Assert.Equal(2, Stages.Count("thing1"));
    }

    [Fact]
    public void A_missing_downstream_result_reruns_only_the_downstream_stage()
    {
        Chain();
        foreach (var f in _p.CacheFiles("*_Thing2_*")) File.Delete(f);
        Chain();
        Assert.Equal((1, 2), (Stages.Count("thing1"), Stages.Count("thing2")));
    }

    [Theory]
    [InlineData("flip")]
    [InlineData("truncate")]
    public void A_corrupt_artifact_is_recomputed_with_a_warning(string damage)
    {
        Chain();
        var artifact = _p.CacheFiles("*_Thing1_thing1.json").Single();
        var bytes = File.ReadAllBytes(artifact);
        if (damage == "flip")
        {
            bytes[^3] = bytes[^3] == (byte)'1' ? (byte)'9' : (byte)'1';
            File.WriteAllBytes(artifact, bytes);
        }
        else
        {
            File.WriteAllBytes(artifact, bytes[..(bytes.Length / 2)]);
        }
        foreach (var f in _p.CacheFiles("*_Thing2_*")) File.Delete(f);
        var m = Chain();
        Assert.Equal((2, 2), (Stages.Count("thing1"), Stages.Count("thing2")));
        Assert.Equal(3, m.Records[0].Get<int>("thing2"));
        if (damage == "flip") Assert.Contains(_p.Warnings, w => w.Contains("content hash", StringComparison.Ordinal) && w.Contains("recomputing stage Thing1", StringComparison.Ordinal));
    }

    [Fact]
    public void A_truncated_artifact_is_not_taken_for_cached()
    {
        Chain();
        var artifact = _p.CacheFiles("*_Thing2_thing2.json").Single();
        File.WriteAllBytes(artifact, []);
        // The length check alone refuses it; the leaf reads it, so it is computed again.
        var m = Chain();
        Assert.Equal(StageStatus.Executed, Node(m, "Thing2").Status);
        Assert.Equal(RunReasons.Missing, Node(m, "Thing2").Reason);
        Assert.Equal(3, m.Records[0].Get<int>("thing2"));
        Assert.Equal(2, Stages.Count("thing2"));
    }

    [Fact]
    public void Records_with_equal_params_compute_a_cached_stage_once()
    {
        var m = _p.Manager();
        new Record(m, new P { Name = "x", A = 1 }).Run(Stages.Thing1);
        new Record(m, new P { Name = "y", A = 1 }).Run(Stages.Thing1);
        m.Execute();
        Assert.Equal(1, Stages.Count("thing1"));
        Assert.Equal([1, 0], m.Records[1].Get<int[]>("thing1"));
    }

    [Fact]
    public void Changed_params_rerun_and_say_so()
    {
        Chain();
        var m = _p.Manager();
        new Record(m, new P { Name = "one", A = 1, B = 3 }).Run(Stages.Thing1);
        m.Map();
        Assert.Equal(RunReasons.Params, m.Nodes[0].Reason);
    }

    [Fact]
    public void Dry_cache_reads_but_writes_nothing()
    {
        Chain(o => o with { DryCache = true });
        Assert.Empty(_p.CacheFiles());
        Chain();
        var files = _p.CacheFiles().Length;
        Chain(o => o with { DryCache = true, Overwrite = true });
        Assert.Equal(files, _p.CacheFiles().Length);
    }

    [Fact]
    public void Aggregates_are_cached_by_their_inputs_and_rerun_when_one_changes()
    {
        ExperimentManager Run(int b)
        {
            var m = _p.Manager();
            new Record(m, new P { Name = "x", A = 1, B = 2 }).Run(Stages.Thing1).Run(Stages.Thing2);
            new Record(m, new P { Name = "y", A = 2, B = b }).Run(Stages.Thing1).Run(Stages.Thing2);
            new Record(m, null).Aggregate(Stages.Total);
            m.Execute();
            Assert.Empty(m.Failures);
            return m;
        }
        Assert.Equal(7, Run(2).Records[2].Get<int>("total"));
        Run(2);
        Assert.Equal(1, Stages.Count("total"));
        Assert.Equal(8, Run(3).Records[2].Get<int>("total"));
        Assert.Equal(2, Stages.Count("total"));
        Assert.True(Run(3).Records[2].IsAggregate);
    }

    [Fact]
    public void A_copy_carries_the_state_and_its_own_params()
    {
        var m = _p.Manager();
        var r = new Record(m, new P { A = 1, B = 2 }).Run(Stages.Thing1);
        var copy = r.MakeCopy(new P { Name = "copy", A = 9 });
        copy.Run(Stages.Thing2);
        m.Execute();
        Assert.Equal(3, copy.Get<int>("thing2"));
        Assert.Equal([r], copy.InputRecords);
        Assert.Equal(1, Stages.Count("thing1"));
        Assert.NotEqual(r.Hash, copy.Hash);
    }

    [Fact]
    public void Lazy_outputs_leave_memory_and_load_on_use()
    {
        var m = _p.Manager();
        var r = new Record(m, new P { A = 1 }).Run(Stages.Model).Run(Stages.PathOf);
        m.Execute();
        var path = r.Get<string>("path");
        Assert.True(File.Exists(path));
        Assert.Equal([1.5, 2.5], r.Get<double[]>("model"));
    }

    [Fact]
    public void Signature_errors_name_the_stage()
    {
        var m = _p.Manager();
        var r = new Record(m, new P { A = 1 });
        Assert.Equal(StageSignatureException.Kinds.Outputs, Assert.Throws<StageSignatureException>(() => r.Run(Stages.BadLazy)).Kind);
        Assert.Equal(StageSignatureException.Kinds.Cachers, Assert.Throws<StageSignatureException>(() => r.Run(Stages.Mismatch)).Kind);
        Assert.Equal(StageSignatureException.Kinds.Cachers, Assert.Throws<StageSignatureException>(() => r.Run(Stages.Empty)).Kind);
        Assert.Equal(StageSignatureException.Kinds.Outputs, Assert.Throws<StageSignatureException>(() => r.Run(Stages.NotATuple)).Kind);
        Assert.Equal(StageSignatureException.Kinds.Inputs, Assert.Throws<StageSignatureException>(() => r.Run(Stages.WrongInput)).Kind);
        var missing = Assert.Throws<StageSignatureException>(() => r.Run(Stages.Missing));
        Assert.Equal(StageSignatureException.Kinds.MissingInput, missing.Kind);
        Assert.Contains("'nowhere'", missing.Message, StringComparison.Ordinal);
        r.Run(Stages.Suppressed);
        m.Execute();
        Assert.Equal(7, r.Get<int>("e"));
        var lazy = _p.Manager(o => o with { Lazy = true });
        new Record(lazy, new P()).Run(Stages.BadLazy);
    }

    [Fact]
    public void An_output_that_cannot_be_fingerprinted_is_an_error_when_a_key_needs_it()
    {
        var m = _p.Manager();
        new Record(m, new P { Name = "s" }).Run(Stages.Free).Run(Stages.AfterFree);
        m.Execute();
        var failed = Assert.Single(m.Failures);
        Assert.Equal("AfterFree", failed.Stage.Name);
        Assert.Contains("'free'", failed.Error, StringComparison.Ordinal);
        Assert.Contains("MemoryStream", failed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_failing_stage_fails_what_depends_on_it_and_not_its_siblings()
    {
        var m = _p.Manager();
        new Record(m, new P { Name = "bad" }).Run(Stages.Boom);
        new Record(m, new P { Name = "good", A = 3 }).Run(Stages.Thing1);
        m.Execute();
        var failed = Assert.Single(m.Failures);
        Assert.Equal("kaboom", failed.Error);
        Assert.Equal([3, 0], m.Records[1].Get<int[]>("thing1"));
    }

    [Fact]
    public void A_lambda_stage_is_keyed_by_what_it_captured()
    {
        string Run(int factor)
        {
            var m = _p.Manager();
            var stage = Stage.Named("scaled").Outputs("scaled").Cache(new JsonCacher());
            new Record(m, new P { A = 2 }).Run(stage, (Record r) => ((P)r.Params!).A * factor);
            m.Execute();
            return m.Nodes[0].Key!;
        }
        Assert.NotEqual(Run(2), Run(3));
        Assert.Equal(Run(2), Run(2));
    }
}

[CollectionDefinition("stages", DisableParallelization = true)]
public class StagesCollection;
