using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Protocol;
using Kiln.Registry.Indexing;
using Kiln.Registry.Records;
using Kiln.Registry.Store;
using Kiln.Registry.Workspace;

namespace Kiln.Bench;

/// <summary>
/// The registry over 10,000 runs: recording them (one transaction), then <c>kiln models --json</c> and <c>kiln models</c>
/// as whole processes (the published kiln, start-up included) beside DVC's <c>exp show</c>, and a rebuild of the
/// registry from 10,000 run folders, in process and as <c>kiln registry rebuild</c>.
/// </summary>
internal static class RegistryBench
{
    // DVC `exp show -A` on the VS Code demo repository after caching refs per call (iterative/dvc PR #9077): quoted, since
    // DVC is not installed here.
    private const string DvcNote = "DVC exp show: 4.4 s (quoted, PR #9077); target <= 0.3 s";

    public static void Run(string kiln, int runs, int records)
    {
        var root = Path.Combine(Path.GetTempPath(), "kiln-bench-registry-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            WorkspaceInit.Run(root, new WorkspaceInitOptions { Name = "bench" });
            var workspace = new WorkspacePaths(root);
            var all = Records(records).ToList();

            var clock = Stopwatch.StartNew();
            using (var db = RegistryDb.Open(workspace)) db.UpsertAll(all);
            Figures.Print("registry.upsert_seconds", clock.Elapsed.TotalSeconds, "s", $"{records} records, one transaction");
            Figures.Print("registry.db_mb", new FileInfo(workspace.Registry).Length / 1e6, "MB");

            clock.Restart();
            using (var db = RegistryDb.Open(workspace))
            {
                var listed = db.Query(new ModelQuery());
                Figures.Print("registry.query_ms", clock.Elapsed.TotalMilliseconds, "ms", $"{listed.Count} models read in process (cold: SQLite opened and loaded)");
                clock.Restart();
                db.Query(new ModelQuery { Architecture = "fp03", Trialled = false, Params = new() { ["lr"] = 0.001 } });
                Figures.Print("registry.filtered_query_ms", clock.Elapsed.TotalMilliseconds, "ms", "architecture, untrialled and one parameter");
            }

            if (!File.Exists(kiln))
            {
                Console.Error.WriteLine($"registry bench: no kiln executable at {kiln}; run scripts/publish.sh (or pass --kiln <path>)");
            }
            else
            {
                Process(kiln, root, runs, "registry.models_json_process", ["models", "--json"]);
                Process(kiln, root, runs, "registry.models_process", ["models"]);
            }

            clock.Restart();
            foreach (var record in all) Folder(root, record);
            Figures.Print("registry.write_folders_seconds", clock.Elapsed.TotalSeconds, "s", $"{records} run folders written (kiln.run.json, kiln.model.json, kiln.params.json, weights, results)");
            var report = RegistryRebuild.Run(workspace);
            Figures.Print("registry.rebuild_seconds", report.Elapsed.TotalSeconds, "s", $"in process: {report.Runs} runs, {report.Models} models, {report.Trialled} trialled");
            if (File.Exists(kiln))
            {
                var rebuild = ProcessRuns.Measure(kiln, "--dir", root, "registry", "rebuild");
                Figures.Print("registry.rebuild_process_seconds", rebuild.Seconds, "s", $"kiln registry rebuild, whole process, peak {rebuild.PeakRssMb:0} MB");
            }
            RunsList(workspace, records);
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    private static void Process(string kiln, string root, int runs, string name, string[] args)
    {
        var times = new List<double>();
        var cpu = new List<double>();
        ProcessRun last = default;
        for (var i = 0; i < runs + 2; i++)
        {
            last = ProcessRuns.Measure(kiln, ["--dir", root, .. args]);
            if (i < 2) continue;
            times.Add(last.Seconds);
            cpu.Add(last.CpuSeconds);
        }
        times.Sort();
        cpu.Sort();
        // CPU time beside wall time: on a machine shared with other work the wall time says more about the neighbours.
        Figures.Print(name + "_median", Figures.Percentile(times, 50), "s",
            $"kiln {string.Join(' ', args)}, whole process, median of {runs}; best {times[0].ToString("0.###", CultureInfo.InvariantCulture)} s, " +
            $"CPU median {Figures.Percentile(cpu, 50).ToString("0.###", CultureInfo.InvariantCulture)} s, peak {last.PeakRssMb:0} MB; {DvcNote}");
    }

    /// <summary>
    /// The dashboard's runs list over the 10,000 folders, first answer of a fresh server: read from the registry's records,
    /// then — the registry moved aside — from the run folders' files, as outside a workspace.
    /// </summary>
    private static void RunsList(WorkspacePaths workspace, int records)
    {
        double First()
        {
            var server = Kiln.Server.Hosting.KilnServer.StartAsync(new Kiln.Server.Hosting.ServerOptions { Root = workspace.Root, Port = 0, WarmRuns = 0 }).GetAwaiter().GetResult();
            try
            {
                using var client = new HttpClient { BaseAddress = new Uri(server.Url) };
                var clock = Stopwatch.StartNew();
                var list = JsonNode.Parse(client.GetStringAsync("/api/runs?sort=loss&order=asc&size=50").GetAwaiter().GetResult())!;
                var ms = clock.Elapsed.TotalMilliseconds;
                if (list["total"]!.GetValue<int>() != records) throw new InvalidOperationException($"listed {list["total"]} runs, expected {records}");
                return ms;
            }
            finally
            {
                server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }
        // The first server of the process pays for the JIT; each figure is the best of three fresh servers.
        double Best() => Enumerable.Range(0, 3).Select(_ => First()).Min();
        Figures.Print("registry.runs_list_first_ms", Best(), "ms", $"dashboard runs list of {records:N0} ended runs, fresh server, read from the registry");
        var aside = workspace.Registry + ".aside";
        File.Move(workspace.Registry, aside);
        try
        {
            Figures.Print("registry.runs_list_files_first_ms", Best(), "ms", $"the same list with no registry: every run's files read");
        }
        finally
        {
            File.Move(aside, workspace.Registry);
        }
    }

    /// <summary>Trainings of 40 architectures, with four hyper-parameters each; every third one trialled.</summary>
    private static IEnumerable<RunRecord> Records(int count)
    {
        var rates = new[] { 0.1, 0.01, 0.001, 1e-4 };
        for (var i = 0; i < count; i++)
        {
            var id = $"2026{i:000000}";
            var fingerprint = $"fp{i % 40:00}" + new string('0', 60);
            yield return new RunRecord
            {
                Id = id, Kind = i % 5 == 0 ? RunKinds.Queue : RunKinds.Train, Dir = "runs/" + id, Status = RunInfo.Completed,
                Start = 1_780_000_000 + i * 60.0, End = 1_780_000_000 + i * 60.0 + 50, Host = "bench",
                Params = new JsonObject { ["lr"] = rates[i % 4], ["batch_size"] = 32 << (i % 3), ["optimizer"] = i % 2 == 0 ? "adam" : "sgd", ["epochs"] = 10 + i % 7 },
                Metrics = new JsonObject { ["loss"] = 1.0 / (1 + i % 13), ["accuracy"] = 0.5 + (i % 50) / 100.0 },
                Fingerprint = fingerprint, ArchitectureSummary = $"Sequential(\n  Conv2d(1, {16 + i % 40}, 3)\n  Linear(128, 10)\n)",
                Weights = $"runs/{id}/weights.safetensors",
                TrialResult = i % 3 == 0 ? new JsonObject { ["accuracy"] = 0.8 + (i % 17) / 100.0 } : null,
                TrialledAt = i % 3 == 0 ? 1_790_000_000 + i : null,
                GitCommit = "c0ffee" + i.ToString("x6", CultureInfo.InvariantCulture), Dirty = i % 4 == 0, SnapshotRef = "refs/kiln/runs/" + id,
            };
        }
    }

    private static void Folder(string root, RunRecord r)
    {
        var dir = Path.Combine(root, r.Dir);
        AtomicFile.WriteJson(Path.Combine(dir, RunFiles.Run), new RunInfo
        {
            Id = r.Id, Kind = r.Kind, Status = r.Status, Start = r.Start, End = r.End, Host = r.Host, Metrics = r.Metrics,
        }.ToJson(), durable: false);
        AtomicFile.WriteJson(Path.Combine(dir, RunFiles.Model), new JsonObject { ["fingerprint"] = r.Fingerprint, ["summary"] = r.ArchitectureSummary }, durable: false);
        AtomicFile.WriteJson(Path.Combine(dir, RunFiles.Params), r.Params!, durable: false);
        File.WriteAllBytes(Path.Combine(dir, RunFiles.Weights), [0]);
        // As a run's own end leaves it: kiln.run.json last written when the run ended.
        File.SetLastWriteTimeUtc(Path.Combine(dir, RunFiles.Run), DateTime.UnixEpoch.AddSeconds(r.End!.Value));
        if (r.TrialResult is { } result) AtomicFile.WriteJson(Path.Combine(dir, RunFiles.TrialResult), result, durable: false);
    }
}
