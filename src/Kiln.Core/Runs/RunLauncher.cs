using System.Globalization;
using System.Text.Json.Nodes;
using Kiln.Kernel;
using Kiln.Protocol;

namespace Kiln.Runs;

/// <summary>What to launch; the defaults are <c>kiln launch</c>'s.</summary>
public sealed record LaunchOptions
{
    /// <summary>The training function (a built-in run, or one of the user's).</summary>
    public required TrainFunction Function { get; init; }

    /// <summary>The run directory; by default a new folder under <see cref="RunsRoot"/>.</summary>
    public string? RunDir { get; init; }

    public string RunsRoot { get; init; } = "runs";
    public long? MaxSteps { get; init; }
    public TimeSpan? MaxTime { get; init; }
    public TimeSpan StepDelay { get; init; }
    public long Seed { get; init; } = 42;
    public string? DataDir { get; init; }
    public JsonObject? Params { get; init; }

    /// <summary>What started the run, for <c>kiln.run.json</c>: launch, demo, trial, train.</summary>
    public string Kind { get; init; } = "launch";

    public KernelOptions? Kernel { get; init; }

    /// <summary>More entries for <c>kiln.run.json</c>'s params (a trial's configuration hash, say).</summary>
    public JsonObject? RunParams { get; init; }

    /// <summary>Continue the run in <see cref="RunDir"/> from its checkpoint (<c>kiln launch --resume</c>).</summary>
    public bool Resume { get; init; }

    /// <summary>Write a checkpoint every this many steps; 0: only when the run is stopped.</summary>
    public long CheckpointEvery { get; init; }

    /// <summary>Checkpoints kept; above 1 the run can roll back to an earlier one (<c>core restore_checkpoint</c>).</summary>
    public int CheckpointKeep { get; init; } = 1;

    /// <summary>Called with the run directory once <c>kiln.run.json</c> says the run is running (to index it as it starts).</summary>
    public Action<string>? Started { get; init; }
}

/// <summary>How a launched run ended.</summary>
public sealed record LaunchResult(string RunDir, string Status, string? Error, long? LastStep, IReadOnlyDictionary<string, double> LastMetrics);

/// <summary>
/// Runs a training function in a <see cref="KilnRun"/>: the run records <c>kiln.run.json</c> (running → completed,
/// failed or stopped) and gives the function a kernel and a metrics writer; the launcher stops the function on the
/// cancellation token, a stop signal, or when <c>MaxTime</c> has passed (whichever limit, steps or time, comes first).
/// </summary>
public static class RunLauncher
{
    public static string NewRunDir(string root, string name, TimeProvider? time = null)
    {
        var stamp = (time ?? TimeProvider.System).GetLocalNow().ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        var safe = new string(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '-').ToArray());
        var dir = Path.Combine(root, $"{stamp}-{safe}");
        for (var i = 2; Directory.Exists(dir); i++) dir = Path.Combine(root, $"{stamp}-{safe}-{i}");
        return dir;
    }

    /// <summary>
    /// Creates a new run directory under <paramref name="root"/> named as <see cref="NewRunDir"/> names it, holding a
    /// <c>pending</c> record of kind <paramref name="kind"/>, and makes sure no other process took the same one: the
    /// record is created only if absent, so two runs started in the same second by two processes get two folders.
    /// </summary>
    public static string ClaimRunDir(string root, string name, string kind, TimeProvider? time = null)
    {
        Directory.CreateDirectory(root);
        for (var attempt = 0; ; attempt++)
        {
            var dir = NewRunDir(root, name, time);
            Directory.CreateDirectory(dir);
            try
            {
                using var claim = new FileStream(Path.Combine(dir, RunFiles.Run), FileMode.CreateNew, FileAccess.Write);
                var record = new RunInfo { Id = Path.GetFileName(dir), Kind = kind, Config = name, Status = Pending };
                claim.Write(System.Text.Encoding.UTF8.GetBytes(record.ToJson().ToJsonString()));
                return dir;
            }
            catch (IOException) when (File.Exists(Path.Combine(dir, RunFiles.Run)) && attempt < 100)
            {
                // taken by another process a moment ago: the next name
            }
        }
    }

    /// <summary>The status of a claimed run directory whose run has not started.</summary>
    public const string Pending = "pending";

    public static LaunchResult Run(
        LaunchOptions options,
        Action<string>? log = null,
        Action<long, IReadOnlyList<(string Name, double Value)>>? progress = null,
        CancellationToken cancel = default)
    {
        var fn = options.Function;
        var dir = Path.GetFullPath(options.RunDir ?? NewRunDir(options.RunsRoot, fn.Name));
        var maxSteps = options.MaxSteps ?? fn.DefaultSteps;
        if (maxSteps <= 0) throw new ProtocolException($"--max-steps: must be > 0, got {maxSteps}");
        log ??= _ => { };

        var parameters = new JsonObject
        {
            ["max_steps"] = maxSteps,
            ["max_time"] = options.MaxTime?.TotalSeconds,
            ["step_delay"] = options.StepDelay.TotalSeconds,
        };
        foreach (var (k, v) in options.RunParams ?? []) parameters[k] = v?.DeepClone();
        if (options.CheckpointEvery < 0) throw new ProtocolException($"--checkpoint-every: must be >= 0, got {options.CheckpointEvery}");
        if (options.CheckpointKeep < 1) throw new ProtocolException($"checkpoint keep: must be >= 1, got {options.CheckpointKeep}");
        RunCheckpoint? resume = null;
        if (options.Resume)
        {
            if (fn.OwnsProtocol) throw new ProtocolException($"{dir}: a training function that follows the protocol itself keeps no Kiln checkpoint to resume from");
            resume = RunCheckpoint.Read(dir) ?? throw new ProtocolException($"{dir}: no checkpoint to resume from ({RunFiles.Checkpoint}/{RunCheckpoint.ManifestFile} is missing)");
            log($"resuming at step {resume.Step} from {RunFiles.Checkpoint}");
        }
        using var run = KilnRun.Start(dir, new RunOptions
        {
            Kind = options.Kind, Config = fn.Name, Seed = options.Seed, Params = parameters,
            Kernel = resume is null ? options.Kernel : (options.Kernel ?? new KernelOptions()) with { ResumeAfterSeq = resume.LedgerSeq },
            OwnsProtocol = !fn.OwnsProtocol, Stop = cancel, Log = log, ResumeMetricsAt = resume?.MetricsBytes,
        });
        options.Started?.Invoke(dir);
        // The function stops at a stop request or at the time limit; only the first makes the run "stopped".
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(run.Stop);
        if (options.MaxTime is { } limit) stop.CancelAfter(limit);
        var started = DateTimeOffset.UtcNow;

        long? lastStep = null;
        void Progress(long step, IReadOnlyList<(string Name, double Value)> metrics)
        {
            lastStep = step;
            progress?.Invoke(step, metrics);
        }

        try
        {
            if (fn.OwnsProtocol)
            {
                fn.Raw!(dir, maxSteps, options.StepDelay.TotalSeconds, stop.Token);
                ReportBatchLog(run, log);
            }
            else
            {
                // Ramps given as a fraction of the run (seed 000's warmup_frac) need the budget.
                run.Env.MaxSteps = maxSteps;
                fn.WithContext!(new TrainContext
                {
                    Run = run, MaxSteps = maxSteps, StepDelay = options.StepDelay, Stop = stop.Token, Seed = options.Seed,
                    DataDir = options.DataDir, Log = log, Progress = Progress, Overrides = options.Params,
                    Config = fn.Name, Resume = resume, CheckpointEvery = options.CheckpointEvery, CheckpointKeep = options.CheckpointKeep,
                });
            }
            if (!run.StopRequested && stop.IsCancellationRequested)
                log($"--max-time reached after {(DateTimeOffset.UtcNow - started).TotalSeconds:0.#} s");
            run.End();
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            run.End();
        }
        catch (Exception ex)
        {
            run.Fail(ex);
        }
        return new LaunchResult(dir, run.Status, run.Error, lastStep, new Dictionary<string, double>(run.LastMetrics));
    }

    /// <summary>A trainer of its own that wrote only a batch log: its per-epoch metrics are derived for charts and the record.</summary>
    public static void ReportBatchLog(KilnRun run, Action<string> log)
    {
        try
        {
            if (Kiln.Metrics.Epochs.EpochMetrics.Derive(run.Dir) is { } final) run.Report(final);
        }
        catch (Exception ex) when (ex is ProtocolException or IOException or UnauthorizedAccessException)
        {
            log($"{RunFiles.BatchLog}: no metrics derived from it: {ex.Message}");
        }
    }
}
