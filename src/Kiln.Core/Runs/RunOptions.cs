using System.Text.Json.Nodes;
using Kiln.Kernel;

namespace Kiln.Runs;

/// <summary>How <see cref="KilnRun.Start"/> records and runs a run; every default suits a training loop of one's own.</summary>
public sealed record RunOptions
{
    /// <summary>What started the run, for <c>kiln.run.json</c>: <c>run</c> (a loop of one's own), launch, demo, trial, train.</summary>
    public string Kind { get; init; } = "run";

    /// <summary>The configuration or function the run trains (shown in listings).</summary>
    public string? Config { get; init; }

    public long? Seed { get; init; }

    /// <summary>The run's hyper-parameters; more can be added to <see cref="KilnRun.Params"/> until the run ends.</summary>
    public JsonObject? Params { get; init; }

    /// <summary>The run's id; by default the directory's name.</summary>
    public string? Id { get; init; }

    /// <summary>The kernel's settings (callback loaders, poll interval, clock).</summary>
    public KernelOptions? Kernel { get; init; }

    /// <summary>
    /// False for a run whose trainer follows the run-directory protocol itself (another process, another language):
    /// the run then records status only — no kernel, no metrics writer, no run lock.
    /// </summary>
    public bool OwnsProtocol { get; init; } = true;

    /// <summary>The clock of heartbeats and timestamps; tests pass a manual one.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>How often <c>kiln.run.json</c>'s heartbeat is refreshed while the run is alive.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Where to read the code's git commit from (the working directory by default; null: not recorded).</summary>
    public string? GitDirectory { get; init; } = ".";

    /// <summary>
    /// Stop when the process is asked to (SIGTERM, SIGINT, SIGHUP, or a vanished runner; see <see cref="StopSignals"/>):
    /// <see cref="KilnRun.Stop"/> is cancelled and the run ends <c>stopped</c>.
    /// </summary>
    public bool StopOnSignals { get; init; } = true;

    /// <summary>Another reason to stop (a caller's own cancellation).</summary>
    public CancellationToken Stop { get; init; }

    /// <summary>
    /// On a full disk, wait for space instead of failing the run: the metrics writer tries again every
    /// <see cref="DiskRetryInterval"/> and <see cref="KilnRun.Log(long, ReadOnlySpan{ValueTuple{string, double}}, string, int?)"/>
    /// blocks meanwhile, so training pauses and no metrics line is lost. By default a run whose metrics cannot be written
    /// stops and ends <c>failed</c>, naming the file. A ledger that cannot be written stops the run either way.
    /// <c>kiln.yaml</c>'s <c>kernel.wait_for_disk_space</c>, when set, overrides this.
    /// </summary>
    public bool WaitForDiskSpace { get; init; }

    /// <summary>How often a run waiting for disk space tries again (<see cref="WaitForDiskSpace"/>).</summary>
    public TimeSpan DiskRetryInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A resumed run: <c>kiln.metrics.jsonl</c> is cut back to this many bytes (its length at the checkpoint) once the run
    /// holds its directory, before anything is written, so no step appears twice.
    /// </summary>
    public long? ResumeMetricsAt { get; init; }

    /// <summary>Messages for the user; callbacks' <c>env.Log</c> goes here too.</summary>
    public Action<string>? Log { get; init; }
}
