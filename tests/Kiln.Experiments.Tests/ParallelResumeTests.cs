using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Kiln.Runs;
using Kiln.Testing;

namespace Kiln.Experiments.Tests;

/// <summary>
/// A <c>kiln experiment … --parallel 2</c> run stopped part way — killed outright, its runner killed alone, or asked to
/// stop — then run again: what was saved is not recomputed, nothing half-written is trusted, and the run completes.
/// One worker computes the set "small" and is done; the other waits in its first stage on "big" until the test says go
/// or the worker is asked to stop.
/// </summary>
public sealed class ParallelResumeTests : IDisposable
{
    private const string Slow = """
        /// Waits for go on the big set
        using Kiln.Experiments;
        using Kiln.Experiments.Caching;
        using Kiln.Experiments.Pipeline;
        public static class Slow
        {
            [Stage("data", Cachers = [typeof(JsonCacher)])]
            public static int[] Load(Record r)
            {
                var name = r.Params!.Name;
                Log($"load {name}\n");
                if (name == "big")
                {
                    File.WriteAllText("big-started", "");
                    // A long stage may watch the stop itself; this one then returns what it computes anyway.
                    while (!File.Exists("go") && !r.Manager.Options.Stop.IsCancellationRequested) Thread.Sleep(20);
                }
                return [.. Enumerable.Range(0, ((Knobs)r.Params!).A)];
            }

            [Stage("scaled", Cachers = [typeof(JsonCacher)])]
            public static double[] Scale(Record r, int[] data)
            {
                Log($"scale {r.Params!.Name}\n");
                return [.. data.Select(x => x + 0.5)];
            }

            // Both workers append to one file: each append holds the file alone (an exclusive lock, retried), or two
            // appends that find the same end would overwrite each other.
            private static void Log(string line)
            {
                for (var attempt = 0; ; attempt++)
                {
                    try
                    {
                        using var f = new FileStream("calls.txt", FileMode.Append, FileAccess.Write, FileShare.None);
                        f.Write(System.Text.Encoding.UTF8.GetBytes(line));
                        return;
                    }
                    catch (IOException) when (attempt < 2000)
                    {
                        Thread.Sleep(5);
                    }
                }
            }

            public static void Run(IReadOnlyList<Knobs> ps, ExperimentManager manager)
            {
                foreach (var p in ps) new Record(manager, p).Run(Load).Run(Scale);
            }
        }
        """;

    private readonly ExperimentWorkspace _workspace = new("parallel-resume");
    private readonly TempDir _dir;

    public ParallelResumeTests()
    {
        _dir = _workspace.Dir;
        File.WriteAllText(_dir.File("experiments/slow.cs"), Slow);
    }

    public void Dispose() => _workspace.Dispose();

    private string[] Calls() => _workspace.Calls();

    /// <summary>Starts the parallel run and waits until "small" is saved and "big" is inside its first stage.</summary>
    private async Task<(Process Runner, int[] Workers)> StartHalfWay()
    {
        var runner = KilnProcess.Start(_dir.Path, null, "experiment", "slow", "-p", "basic", "--parallel", "2", "--plain");
        await Wait.UntilAsync(() => File.Exists(_dir.File("big-started"))
            && Directory.GetFiles(_dir.File(".kiln/cache"), "*_Scale_scaled_metadata.json").Length == 1, "small saved and big started", seconds: 300);
        // The worker of "small" may have ended already; the one of "big" is waiting.
        var workers = WorkersOf(runner.Id);
        Assert.NotEmpty(workers);
        return (runner, workers);
    }

    /// <summary>The processes whose environment names <paramref name="runner"/> as their runner (its --parallel workers).</summary>
    private static int[] WorkersOf(int runner)
    {
        var marker = $"{StopSignals.ParentPidVariable}={runner.ToString(CultureInfo.InvariantCulture)}\0";
        var found = new List<int>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "environ")).Contains(marker, StringComparison.Ordinal)) found.Add(pid);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // gone, or not ours
            }
        }
        return [.. found];
    }

    private static bool Alive(int pid) => Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal);

    private KilnProcess.Result RunAgain() => KilnProcess.Run(_dir.Path, TimeSpan.FromMinutes(5), null, "experiment", "slow", "-p", "basic", "--parallel", "2");

    /// <summary>Every artifact the cache's metadata names has the recorded length and content hash.</summary>
    private void AssertEveryArtifactIsWhole()
    {
        var metadata = Directory.GetFiles(_dir.File(".kiln/cache"), "*_metadata.json");
        Assert.Equal(4, metadata.Length);
        foreach (var path in metadata)
        {
            var m = JsonNode.Parse(File.ReadAllText(path))!;
            var artifact = path[..^"_metadata.json".Length] + ".json";
            var bytes = File.ReadAllBytes(artifact);
            Assert.Equal((long)m["length"]!, bytes.Length);
            Assert.Equal((string?)m["data_version"], Convert.ToHexStringLower(SHA256.HashData(bytes)));
        }
    }

    [Fact]
    public async Task Killed_outright_it_resumes_without_recomputing_what_was_saved()
    {
        var (runner, workers) = await StartHalfWay();
        using (runner)
        {
            Processes.Signal(runner.Id, Processes.SigKill);
            foreach (var w in workers) Processes.Signal(w, Processes.SigKill);
            await runner.WaitForExitAsync();
        }
        await Wait.UntilAsync(() => workers.All(w => !Alive(w)), "the workers to die");
        Assert.Equal(["load big", "load small", "scale small"], Calls().Order());
        File.WriteAllText(_dir.File("go"), "");

        var again = RunAgain();
        Assert.True(again.ExitCode == 0, again.ToString());
        // "small" was saved before the kill; "big" was killed inside its first stage, which left nothing to trust.
        Assert.Equal(["load big", "scale big"], Calls().Order());
        AssertEveryArtifactIsWhole();
    }

    [Fact]
    public async Task A_runner_killed_alone_leaves_no_worker_behind_and_the_rerun_finishes_the_rest()
    {
        var (runner, workers) = await StartHalfWay();
        using (runner)
        {
            Processes.Signal(runner.Id, Processes.SigKill);
            await runner.WaitForExitAsync();
        }
        // The worker inside "big" notices its runner is gone; it finishes the stage it is in (saved whole) and starts no other.
        await Wait.UntilAsync(() => workers.All(w => !Alive(w)), "the workers to end");
        Assert.Equal(["load big", "load small", "scale small"], Calls().Order());

        var again = RunAgain();
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(["scale big"], Calls());
        AssertEveryArtifactIsWhole();
    }

    [Fact]
    public async Task Asked_to_stop_it_stops_its_workers_records_stopped_and_exits_143()
    {
        var (runner, workers) = await StartHalfWay();
        using (runner)
        {
            Processes.Signal(runner.Id, Processes.SigTerm);
            using var exit = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            await runner.WaitForExitAsync(exit.Token);
            Assert.Equal(143, runner.ExitCode);
        }
        Assert.All(workers, w => Assert.False(Alive(w)));
        var info = JsonNode.Parse(File.ReadAllText(Directory.GetFiles(_dir.File("reports"), "run_info.json", SearchOption.AllDirectories).Single()))!;
        Assert.Equal("stopped", (string?)info["status"]);
        Assert.Equal(["load big", "load small", "scale small"], Calls().Order());

        var again = RunAgain();
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(["scale big"], Calls());
        AssertEveryArtifactIsWhole();
    }
}
