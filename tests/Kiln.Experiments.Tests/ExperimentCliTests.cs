using Kiln.Testing;

namespace Kiln.Experiments.Tests;

/// <summary>The published kiln running experiments in a real workspace: compile, cache, code edits, failures, the registry.</summary>
public class ExperimentCliTests : IDisposable
{
    private readonly ExperimentWorkspace _workspace = new("experiment-cli");
    private readonly TempDir _dir;

    public ExperimentCliTests() => _dir = _workspace.Dir;

    public void Dispose() => _workspace.Dispose();

    private KilnProcess.Result Kiln(params string[] args) => _workspace.Kiln(args);

    private string[] Calls() => _workspace.Calls();

    [Fact]
    public void A_run_a_cached_rerun_a_helper_edit_and_a_comment_edit()
    {
        var first = Kiln("experiment", "demo", "-p", "basic");
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Equal(4, Calls().Length);
        Assert.True(File.Exists(_dir.File("reports/index.html")));
        var report = Directory.GetDirectories(_dir.File("reports")).Single();
        Assert.Contains("<svg", File.ReadAllText(Path.Combine(report, "index.html")), StringComparison.Ordinal);

        Assert.Equal(0, Kiln("experiment", "demo", "-p", "basic").ExitCode);
        Assert.Empty(Calls());

        // A comment and white space change no IL: nothing re-runs.
        File.WriteAllText(_dir.File("experiments/demo.cs"), ExperimentWorkspace.Experiment.Replace("    static double Helper", "    // the helper\n\n    static double Helper", StringComparison.Ordinal));
        Assert.Equal(0, Kiln("experiment", "demo", "-p", "basic").ExitCode);
        Assert.Empty(Calls());

        // A called helper's edit re-runs the stage that calls it, and only it.
        File.WriteAllText(_dir.File("experiments/demo.cs"), ExperimentWorkspace.Experiment.Replace("x + 0.5", "x + 0.25", StringComparison.Ordinal));
        var map = Kiln("experiment", "demo", "-p", "basic", "--map");
        Assert.Contains("Stage: Scale (leaf) [runs: code changed]", map.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, Kiln("experiment", "demo", "-p", "basic").ExitCode);
        Assert.Equal(["scale", "scale"], Calls());

        var ls = Kiln("experiment", "ls");
        Assert.Contains("demo - Load then scale", ls.Stdout, StringComparison.Ordinal);
        Assert.Contains("basic - Two parameter sets", ls.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void A_failing_stage_exits_1_with_its_cause_in_the_registry_and_the_report()
    {
        File.WriteAllText(_dir.File("experiments/demo.cs"), ExperimentWorkspace.Experiment.Replace("x + 0.5", "x / (x - x)", StringComparison.Ordinal).Replace("double[] Scale", "int[] Scale").Replace("double Helper", "int Helper"));
        var run = Kiln("experiment", "demo", "-p", "basic");
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("divide by zero", run.Stderr, StringComparison.OrdinalIgnoreCase);
        var info = File.ReadAllText(Directory.GetFiles(_dir.File("reports"), "run_info.json", SearchOption.AllDirectories).Single());
        Assert.Contains("\"failed\"", info, StringComparison.Ordinal);
    }

    [Fact]
    public void A_compile_error_names_file_line_and_column()
    {
        File.WriteAllText(_dir.File("experiments/demo.cs"), ExperimentWorkspace.Experiment.Replace("=> x + 0.5;", "=> x + ;", StringComparison.Ordinal));
        var run = Kiln("experiment", "demo", "-p", "basic");
        Assert.Equal(1, run.ExitCode);
        Assert.Matches(@"experiments/demo\.cs\(\d+,\d+\): error CS\d+", run.Stderr);
    }

    [Fact]
    public void Bad_input_is_one_clear_line()
    {
        var missing = Kiln("experiment", "nope", "-p", "basic");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("no such experiment file (there are: demo)", missing.Stderr, StringComparison.Ordinal);
        var name = Kiln("experiment", "demo", "-p", "basic", "-n", "huge");
        Assert.Equal(1, name.ExitCode);
        Assert.Contains("'huge'", name.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, Kiln("experiment", "demo", "--lazy", "--ignore-lazy", "-p", "basic").ExitCode);
    }

    [Fact]
    public void A_full_store_reproduces_the_run_from_its_artifacts_alone()
    {
        var run = Kiln("experiment", "demo", "-p", "basic", "--store-full");
        Assert.True(run.ExitCode == 0, run.ToString());
        Calls();
        var store = Directory.GetDirectories(_dir.File(".kiln/stores")).Single();
        Assert.True(File.Exists(Path.Combine(store, "environment.json")));
        Directory.Delete(_dir.File(".kiln/cache"), recursive: true);
        var again = Kiln("experiment", "demo", "-p", "basic", "--cache", Path.Combine(store, "artifacts"), "--dry-cache");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Empty(Calls());
        Assert.False(Directory.Exists(_dir.File(".kiln/cache")));
    }

    [Fact]
    public void Parallel_workers_fill_the_cache_and_the_final_run_finds_it()
    {
        var run = Kiln("experiment", "demo", "-p", "basic", "--parallel", "2");
        Assert.True(run.ExitCode == 0, run.ToString());
        // Two workers computed each record's two stages once; the final run found them cached.
        Assert.Equal(4, Calls().Length);
        Assert.Single(Directory.GetDirectories(_dir.File("reports")));
    }

    [Fact]
    public void The_sample_experiment_runs_and_runs_again_from_its_cache()
    {
        using var copy = new TempDir("experiment-demo");
        var sample = Path.Combine(Repository.Root, "samples", "experiment-demo");
        foreach (var file in new[] { "kiln.json", "experiments/demo.cs", "params/basic.cs" })
        {
            Directory.CreateDirectory(Path.GetDirectoryName(copy.File(file))!);
            File.Copy(Path.Combine(sample, file), copy.File(file));
        }
        var first = KilnProcess.Run(copy.Path, TimeSpan.FromMinutes(5), null, "experiment", "demo", "-p", "basic");
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Contains("Record 2 (fast): running Evaluate", first.Stdout);
        var report = File.ReadAllText(Path.Combine(Directory.GetDirectories(copy.File("reports")).Single(), "index.html"));
        Assert.Contains("comparison", report);

        var again = KilnProcess.Run(copy.Path, TimeSpan.FromMinutes(5), null, "experiment", "demo", "-p", "basic");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.DoesNotContain("running", again.Stdout);
    }
}
