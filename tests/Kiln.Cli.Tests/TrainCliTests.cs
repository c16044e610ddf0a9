using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Registry.Workspace;
using Kiln.Runs;
using Kiln.Testing;

namespace Kiln.Cli.Tests;

/// <summary>
/// numb's train/trial cycle with Kiln's names, as a user runs it: a workspace in a git repository whose train and trial
/// commands run a real C# training program (samples/numb-workflow) reporting through the SDK.
/// </summary>
public sealed class TrainCliTests
{
    private static readonly string Sample = typeof(TrainCliTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "NumbWorkflowSample").Value!;

    private static readonly TimeSpan Slow = TimeSpan.FromMinutes(5);

    private static WorkspacePaths Workspace(TempDir tmp)
    {
        var root = tmp.Sub("project");
        GitCommand.Run(root, "init", "-q", "-b", "main");
        File.WriteAllText(Path.Combine(root, "model.txt"), "an MLP of 32 hidden units\n");
        GitCommand.Run(root, "add", "-A");
        GitCommand.Run(root, "commit", "-q", "-m", "first");
        var init = KilnProcess.Run(root, "workspace", "init");
        Assert.True(init.ExitCode == 0, init.ToString());
        var workspace = new WorkspacePaths(root);
        var config = JsonNode.Parse(File.ReadAllText(workspace.Config))!.AsObject();
        config["train"] = new JsonArray(new JsonArray("dotnet", Sample));
        config["trial"] = new JsonArray(new JsonArray("dotnet", Sample));
        File.WriteAllText(workspace.Config, config.ToJsonString());
        return workspace;
    }

    private static KilnProcess.Result Kiln(WorkspacePaths w, params string[] args) => KilnProcess.Run(w.Root, Slow, null, ["--plain", .. args]);

    private static List<JsonNode> Models(WorkspacePaths w)
    {
        var listed = Kiln(w, "models", "--json");
        Assert.True(listed.ExitCode == 0, listed.ToString());
        return JsonNode.Parse(listed.Stdout)!["groups"]!.AsArray().SelectMany(g => g!["models"]!.AsArray()).Select(m => m!.DeepClone()).ToList();
    }

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    [Fact]
    public void Train_asks_before_training_again_trial_records_results_and_a_queue_trains_each_entry()
    {
        using var tmp = new TempDir("train");
        var w = Workspace(tmp);
        var index = Path.Combine(w.Root, ".git", "index");
        var indexBefore = Hash(index);

        // Trained and recorded: architecture, hyper-parameters, weights, code snapshot; the user's tree untouched.
        var first = Kiln(w, "train");
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Contains("test_accuracy=", first.Stdout); // the program's output is shown
        Assert.Matches(@"code snapshot [0-9a-f]{12} \(refs/kiln/runs/", first.Stdout);
        var models = Models(w);
        var trained = Assert.Single(models)!;
        var id = (string)trained["id"]!;
        Assert.StartsWith("sha256:", (string)trained["fingerprint"]!);
        Assert.Equal(0.01, (double)trained["params"]!["lr"]!);
        Assert.Null(trained["trial_result"]);
        var runDir = Path.Combine(w.Runs, id);
        Assert.True(File.Exists(Path.Combine(runDir, RunFiles.Weights)));
        Assert.Equal("completed", (string)JsonNode.Parse(File.ReadAllText(Path.Combine(runDir, RunFiles.Run)))!["status"]!);
        Assert.NotEqual("", GitCommand.Run(w.Root, "rev-parse", "--verify", $"refs/kiln/runs/{id}"));
        Assert.Equal(indexBefore, Hash(index));
        Assert.Equal("main", GitCommand.Run(w.Root, "rev-parse", "--abbrev-ref", "HEAD"));

        // The same architecture and hyper-parameters again: asked, answered no — nothing recorded, no folder left.
        var runsBefore = Directory.GetDirectories(w.Runs).Length;
        var again = KilnProcess.RunWithInput(w.Root, "n\n", Slow, null, "--plain", "train");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains("trained with the same hyper-parameters before: " + id, again.Stdout);
        Assert.Contains("Are you sure you want to train it again? [y/N]", again.Stdout);
        Assert.Single(Models(w));
        Assert.Equal(runsBefore, Directory.GetDirectories(w.Runs).Length);
        var yes = Kiln(w, "train", "--yes");
        Assert.True(yes.ExitCode == 0, yes.ToString());
        Assert.Equal(2, Models(w).Count);

        // A trial of the first model: the result goes to every run of that architecture and hyper-parameters.
        var trial = Kiln(w, "trial", "--model", id);
        Assert.True(trial.ExitCode == 0, trial.ToString());
        Assert.Contains("recorded on 2 runs", trial.Stdout);
        Assert.All(Models(w), m => Assert.True((double)m!["trial_result"]!["accuracy"]! > 0.5));
        var all = Kiln(w, "trial", "--all");
        Assert.True(all.ExitCode == 0, all.ToString());
        Assert.Contains("All parameters associated with the current architecture have been trialled.", all.Stdout);

        // A queue: a bad range runs nothing; three entries train three runs with the injected values.
        var queue = Path.Combine(w.Root, "q.json");
        Assert.Equal(0, Kiln(w, "queue", "init", queue).ExitCode);
        Assert.Equal("""{"queue":[],"start":0,"end":0}""", JsonNode.Parse(File.ReadAllText(queue))!.ToJsonString());
        var refused = Kiln(w, "queue", "init", queue);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("exists, kept", refused.Stderr);
        File.WriteAllText(queue, """{"queue":[{"lr":0.02,"steps":40},{"lr":0.05,"steps":40},{"lr":0.1,"steps":40}],"start":2,"end":2}""");
        var bad = Kiln(w, "queue", "run", queue);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("bad range: start 2, end 2 with 3 entries", bad.Stderr);
        Assert.Equal(2, Models(w).Count);
        File.WriteAllText(queue, """{"queue":[{"lr":0.02,"steps":40},{"lr":0.05,"steps":40},{"lr":0.1,"steps":40}],"start":0,"end":3}""");
        var queued = Kiln(w, "queue", "run", queue, "--jobs", "2");
        Assert.True(queued.ExitCode == 0, queued.ToString());
        Assert.Contains("3 runs: 3 completed, 0 not", queued.Stdout);
        var afterQueue = Models(w);
        Assert.Equal(5, afterQueue.Count);
        Assert.Equal([0.02, 0.05, 0.1], afterQueue.Where(m => (string)m!["kind"]! == "queue").Select(m => (double)m!["params"]!["lr"]!).Order());
        Assert.All(afterQueue, m => Assert.NotNull(m!["snapshot_ref"]));

        // --all trials the three queued models, then says there is nothing left.
        var rest = Kiln(w, "trial", "--all");
        Assert.True(rest.ExitCode == 0, rest.ToString());
        Assert.Contains("Done: 3 trials made in total", rest.Stdout);
        Assert.All(Models(w), m => Assert.NotNull(m!["trial_result"]));

        // A report of a trialled model: its weights and its page.
        var report = Kiln(w, "report", id);
        Assert.True(report.ExitCode == 0, report.ToString());
        var html = File.ReadAllText(Path.Combine(w.Root, $"report-{id}", "report.html"));
        Assert.Contains("<h2>Trial result</h2>", html);
        Assert.Contains("accuracy", html);
        Assert.True(File.Exists(Path.Combine(w.Root, $"report-{id}", RunFiles.Weights)));
    }

    [Fact]
    public void A_trial_before_any_training_says_so_and_a_report_of_an_untrialled_model_is_refused()
    {
        using var tmp = new TempDir("train");
        var w = Workspace(tmp);
        var trial = Kiln(w, "trial");
        Assert.Equal(1, trial.ExitCode);
        Assert.Contains("The model you are trialling was never trained", trial.Stdout);
        Assert.Empty(Directory.GetDirectories(w.Runs));

        Assert.Equal(0, Kiln(w, "train").ExitCode);
        var id = (string)Models(w).Single()!["id"]!;
        var report = Kiln(w, "report", id);
        Assert.Equal(1, report.ExitCode);
        Assert.Contains("cannot report a model that was not trialled", report.Stderr);
        Assert.Equal(0, Kiln(w, "report", id, "--untrialled").ExitCode);
        var missing = Kiln(w, "report", "no-such-run");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("no-such-run: no such run", missing.Stderr);
    }

    [Fact]
    public async Task Two_trainings_at_once_get_two_runs_and_a_killed_one_reads_interrupted_without_weights()
    {
        using var tmp = new TempDir("train");
        var w = Workspace(tmp);
        var a = KilnProcess.Start(w.Root, null, "--plain", "train", "--yes", "--silent");
        var b = KilnProcess.Start(w.Root, null, "--plain", "train", "--yes", "--silent");
        a.StandardInput.Close();
        b.StandardInput.Close();
        var outputs = await Task.WhenAll(a.StandardOutput.ReadToEndAsync(), b.StandardOutput.ReadToEndAsync());
        await Task.WhenAll(a.WaitForExitAsync(), b.WaitForExitAsync());
        Assert.True(a.ExitCode == 0 && b.ExitCode == 0, string.Join("\n---\n", outputs));
        var both = Models(w);
        Assert.Equal(2, both.Count);
        Assert.Equal(2, both.Select(m => (string)m!["id"]!).Distinct().Count());

        // A training whose kiln is killed outright: no half record — interrupted, and no weights.
        var config = JsonNode.Parse(File.ReadAllText(w.Config))!.AsObject();
        config["train"] = new JsonArray(new JsonArray("sh", "-c",
            "printf '{\"fingerprint\":\"sha256:slow\",\"summary\":\"s\"}' > \"$KILN_RUN_DIR/kiln.model.json\"; echo '{\"lr\":1}' > \"$KILN_RUN_DIR/kiln.params.json\"; sleep 4; echo w > \"$KILN_RUN_DIR/weights.safetensors\""));
        File.WriteAllText(w.Config, config.ToJsonString());
        var killed = KilnProcess.Start(w.Root, null, "--plain", "train", "--silent");
        killed.StandardInput.Close();
        var runs = Directory.GetDirectories(w.Runs).ToHashSet();
        string? dir = null;
        await Wait.UntilAsync(() => (dir = Directory.GetDirectories(w.Runs).FirstOrDefault(d => !runs.Contains(d) && File.Exists(Path.Combine(d, RunFiles.Model)))) is not null, "the slow training to start");
        killed.Kill();
        await killed.WaitForExitAsync();
        // Not a model (no weights), and listed as interrupted once a listing has looked at it again.
        Assert.DoesNotContain(Models(w), m => (string?)m!["fingerprint"] == "sha256:slow");
        using (var db = global::Kiln.Registry.Store.RegistryDb.Open(w))
        {
            var record = db.Get(Path.GetFileName(dir!))!;
            Assert.Equal(("interrupted", "sha256:slow"), (record.Status, record.Fingerprint));
            Assert.Null(record.Weights);
        }
        // The program outlives its kiln and writes weights after all: still no model of an interrupted run.
        await Wait.UntilAsync(() => File.Exists(Path.Combine(dir!, RunFiles.Weights)), "the orphaned program to end");
        Assert.Equal(0, Kiln(w, "registry", "rebuild").ExitCode);
        Assert.DoesNotContain(Models(w), m => (string?)m!["fingerprint"] == "sha256:slow");
        Assert.Contains("interrupted", Kiln(w, "--dir", dir!, "status").Stdout);
    }

    [Fact]
    public void A_launch_inside_a_workspace_is_recorded_in_its_registry()
    {
        using var tmp = new TempDir("train");
        var w = Workspace(tmp);
        var launch = KilnProcess.Run(w.Root, Slow, null, "--plain", "launch", "--config", "simple", "--max-steps", "20", "--no-serve", "--data-dir", tmp.Sub("empty"));
        Assert.True(launch.ExitCode == 0, launch.ToString());
        var all = Kiln(w, "models", "--json", "--kind", "launch");
        Assert.True(all.ExitCode == 0, all.ToString());
        var registry = Path.Combine(w.State, "registry.db");
        Assert.True(File.Exists(registry));
        using var db = global::Kiln.Registry.Store.RegistryDb.Open(w);
        var launched = db.Query(global::Kiln.Registry.Store.ModelQuery.AllRuns).Single(r => r.Kind == "launch");
        Assert.Equal(("completed", "simple"), (launched.Status, launched.Config));
    }

    [Fact]
    public async Task A_launch_is_in_the_registry_as_running_while_it_trains_and_with_its_end_once_stopped()
    {
        using var tmp = new TempDir("train");
        var w = Workspace(tmp);
        using var process = KilnProcess.Start(w.Root, null, "--plain", "launch", "--config", "simple", "--max-steps", "100000000",
            "--step-delay", "0.005", "--no-serve", "--data-dir", tmp.Sub("empty"));
        global::Kiln.Registry.Records.RunRecord? Launched()
        {
            if (!File.Exists(w.Registry)) return null;
            using var db = global::Kiln.Registry.Store.RegistryDb.Open(w);
            return db.Query(global::Kiln.Registry.Store.ModelQuery.AllRuns).SingleOrDefault(r => r.Kind == "launch");
        }
        await Wait.UntilAsync(() => Launched()?.Status == RunInfo.Running, "the launch to be recorded as running");
        Assert.True(Processes.Signal(process.Id, Processes.SigTerm));
        await process.WaitForExitAsync();
        Assert.Equal(143, process.ExitCode);
        var ended = Launched()!;
        Assert.Equal(RunInfo.Stopped, ended.Status);
        Assert.NotNull(ended.End);
    }
}
