using System.Text.Json.Nodes;
using Kiln.Execution.Slurm;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Server.Tests;

/// <summary>
/// The runs page's Slurm column: each trial a submission under <c>.kiln/jobs/</c> names shows Slurm's state beside
/// Kiln's, read from a cache the server refreshes with one batched call per poll, polls spaced out while nothing changes.
/// The cluster is faked here (a status source answering from a table); tests/Kiln.Execution.Tests use the real one.
/// </summary>
public sealed class SlurmColumnTests
{
    /// <summary>Answers from <see cref="States"/>, or throws <see cref="Failure"/>; notes each call and the arrays asked about.</summary>
    private sealed class FakeSlurm : ISlurmStatusSource
    {
        public Dictionary<string, SlurmTaskState> States { get; } = new(StringComparer.Ordinal);
        public List<IReadOnlyCollection<string>> Calls { get; } = [];
        public SlurmException? Failure { get; set; }

        public IReadOnlyDictionary<string, SlurmTaskState> Read(IReadOnlyCollection<string> arrayIds)
        {
            lock (Calls) Calls.Add([.. arrayIds]);
            if (Failure is { } failure) throw failure;
            return States.Where(kv => arrayIds.Contains(SlurmStatusReader.ArrayOf(kv.Key))).ToDictionary();
        }
    }

    private const string Sweep = "out/log/sweep/mlp/adam";

    /// <summary>Three trials submitted as Slurm array 4242 (and a launch run that was not).</summary>
    private static void Workspace(TempDir w)
    {
        var tasks = new List<SlurmTask>();
        for (var i = 0; i < 3; i++)
        {
            var trial = w.Sub($"{Sweep}/trial_00{i}");
            File.WriteAllText(Path.Combine(trial, RunFiles.Trial), new JsonObject { ["swept"] = new JsonObject { ["lr"] = 0.001 * (i + 1) } }.ToJsonString());
            tasks.Add(new SlurmTask(i, $"sweep/mlp/adam/trial_00{i}", trial, trial));
        }
        FakeRun.Create(w.Sub("runs/local"), start: 100);
        new SlurmSubmission("20261204-120000-000-abcdef", w.Sub(".kiln/jobs/20261204-120000-000-abcdef"), DateTimeOffset.UnixEpoch,
            [new SlurmArray("4242", 0, 3)], tasks).Write();
    }

    private static async Task<(ServerHost Host, FakeSlurm Slurm, ManualTimeProvider Clock)> Start()
    {
        var slurm = new FakeSlurm();
        slurm.States["4242_0"] = new SlurmTaskState("RUNNING", Requeues: 1);
        slurm.States["4242_1"] = new SlurmTaskState("PENDING", Requeues: 2);
        slurm.States["4242_2"] = new SlurmTaskState("COMPLETED", 0);
        var clock = new ManualTimeProvider();
        var host = await ServerHost.StartAsync(Workspace, configure: o => o with { SlurmStatus = slurm, Time = clock });
        return (host, slurm, clock);
    }

    private static async Task<Dictionary<string, JsonNode>> Rows(ServerHost host) =>
        (await host.GetOk("/api/runs?sort=id&order=asc"))["runs"]!.AsArray().ToDictionary(r => (string)r!["id"]!, r => r!);

    [Fact]
    public async Task Each_submitted_trial_shows_its_Slurm_state_and_requeues_beside_Kiln_status_from_one_call()
    {
        var (host, slurm, _) = await Start();
        await using var _host = host;
        var rows = await Rows(host);

        Assert.Equal("pending", (string?)rows[$"{Sweep}/trial_000"]["status"]);
        Assert.Equal("""{"id":"4242_0","state":"RUNNING","requeued":true,"requeues":1,"exit_code":null}""", rows[$"{Sweep}/trial_000"]["slurm"]!.ToJsonString());
        Assert.Equal(2, (int)rows[$"{Sweep}/trial_001"]["slurm"]!["requeues"]!);
        Assert.Equal("COMPLETED", (string?)rows[$"{Sweep}/trial_002"]["slurm"]!["state"]);
        Assert.Equal(0, (int?)rows[$"{Sweep}/trial_002"]["slurm"]!["exit_code"]);
        Assert.Null(rows["runs/local"]["slurm"]);
        // One run's page says the same.
        var one = await host.GetOk($"/api/run?run={Uri.EscapeDataString($"{Sweep}/trial_001")}");
        Assert.Equal("PENDING", (string?)one["run"]!["slurm"]!["state"]);

        // Many requests, many runs: one call for all of them, asking about the one array.
        for (var i = 0; i < 5; i++) await Rows(host);
        var call = Assert.Single(slurm.Calls);
        Assert.Equal(["4242"], call);
    }

    [Fact]
    public async Task The_cluster_is_polled_with_backoff_while_nothing_changes_and_no_longer_once_every_task_ended()
    {
        var (host, slurm, clock) = await Start();
        await using var _host = host;
        await Rows(host);
        Assert.Single(slurm.Calls);

        // Nothing changes: the waits between polls double from 2 s (2, 4, 8 s).
        async Task<int> CallsAfter(double seconds)
        {
            clock.Advance(TimeSpan.FromSeconds(seconds));
            await Rows(host);
            return slurm.Calls.Count;
        }
        Assert.Equal(1, await CallsAfter(1.9));
        Assert.Equal(2, await CallsAfter(0.1));  // 2 s after the first
        Assert.Equal(2, await CallsAfter(3.9));
        Assert.Equal(3, await CallsAfter(0.1));  // 4 s after the second
        Assert.Equal(3, await CallsAfter(7.9));
        Assert.Equal(4, await CallsAfter(0.1));  // 8 s after the third

        // A change brings the wait back to 2 s.
        slurm.States["4242_1"] = new SlurmTaskState("RUNNING", Requeues: 2);
        Assert.Equal(5, await CallsAfter(16));
        Assert.Equal("RUNNING", (string?)(await Rows(host))[$"{Sweep}/trial_001"]["slurm"]!["state"]);
        Assert.Equal(6, await CallsAfter(2));

        // Every task ended: the cluster is not asked again, however long the page stays open.
        slurm.States["4242_0"] = new SlurmTaskState("COMPLETED", 0, Requeues: 3);
        slurm.States["4242_1"] = new SlurmTaskState("TIMEOUT", 143, Requeues: 2);
        Assert.Equal(7, await CallsAfter(4));
        Assert.Equal(7, await CallsAfter(600));
        var rows = await Rows(host);
        Assert.Equal("TIMEOUT", (string?)rows[$"{Sweep}/trial_001"]["slurm"]!["state"]);
        Assert.Equal(3, (int)rows[$"{Sweep}/trial_000"]["slurm"]!["requeues"]!);
    }

    [Fact]
    public async Task A_cluster_that_cannot_be_asked_leaves_the_runs_listed_and_says_why()
    {
        var (host, slurm, _) = await Start();
        await using var _host = host;
        slurm.Failure = new SlurmException("squeue: No such file or directory (is Slurm installed here? scripts/slurm-up.sh starts a local cluster)");
        var answer = await host.GetOk("/api/runs?sort=id&order=asc");

        Assert.Equal(4, (int)answer["total"]!);
        Assert.StartsWith("cannot ask Slurm where the trials stand: squeue: No such file", (string?)answer["slurm_problem"]);
        var trial = answer["runs"]!.AsArray().Single(r => (string)r!["id"]! == $"{Sweep}/trial_000")!;
        Assert.Equal("pending", (string?)trial["status"]);
        Assert.Equal("""{"id":"4242_0","state":null,"requeued":null,"requeues":null,"exit_code":null}""", trial["slurm"]!.ToJsonString());
    }
}
