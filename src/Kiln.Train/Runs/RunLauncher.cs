using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Kernel;
using Kiln.Metrics;
using Kiln.Protocol;
using Kiln.Modules;

namespace Kiln.Train.Runs;

/// <summary>What to launch; the defaults are <c>kiln launch</c>'s.</summary>
public sealed record LaunchOptions
{
    /// <summary>A built-in config: simple, multitask (the default) or finetune.</summary>
    public string Config { get; init; } = "multitask";

    /// <summary>A training function to run instead of the config.</summary>
    public TrainFunction? Function { get; init; }

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
}

/// <summary>How a launched run ended.</summary>
public sealed record LaunchResult(string RunDir, string Status, string? Error, long? LastStep, IReadOnlyDictionary<string, double> LastMetrics);

/// <summary>
/// Runs a training function in a run directory: writes <c>kiln.run.json</c> (running → completed, failed or stopped),
/// gives the function a kernel and a metrics writer, stops it on the cancellation token or when <c>MaxTime</c> has
/// passed (whichever limit, steps or time, comes first), ends the kernel, and records how it ended.
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

    public static LaunchResult Run(
        LaunchOptions options,
        Action<string>? log = null,
        Action<long, IReadOnlyList<(string Name, double Value)>>? progress = null,
        CancellationToken cancel = default)
    {
        var fn = options.Function ?? TrainFunctions.Config(options.Config);
        var dir = Path.GetFullPath(options.RunDir ?? NewRunDir(options.RunsRoot, fn.Name));
        Directory.CreateDirectory(dir);
        var files = new RunFiles(dir);
        var maxSteps = options.MaxSteps ?? fn.DefaultSteps;
        if (maxSteps <= 0) throw new ProtocolException($"--max-steps: must be > 0, got {maxSteps}");
        log ??= _ => { };

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        if (options.MaxTime is { } limit) stop.CancelAfter(limit);
        var started = DateTimeOffset.UtcNow;
        var info = new RunInfo
        {
            Id = Path.GetFileName(dir),
            Kind = options.Kind,
            Config = fn.Name,
            Seed = options.Seed,
            Status = RunInfo.Running,
            Pid = Environment.ProcessId,
            Host = Environment.MachineName,
            Start = started.ToUnixTimeMilliseconds() / 1000.0,
            GitCommit = GitHead(Directory.GetCurrentDirectory()),
            Params = new JsonObject
            {
                ["max_steps"] = maxSteps,
                ["max_time"] = options.MaxTime?.TotalSeconds,
                ["step_delay"] = options.StepDelay.TotalSeconds,
            },
        };
        foreach (var (k, v) in options.RunParams ?? []) info.Params[k] = v?.DeepClone();
        WriteInfo(files, info);

        var last = new Dictionary<string, double>(StringComparer.Ordinal);
        long? lastStep = null;
        void Progress(long step, IReadOnlyList<(string Name, double Value)> metrics)
        {
            lastStep = step;
            foreach (var (n, v) in metrics) last[n] = v;
            progress?.Invoke(step, metrics);
        }

        string status;
        string? error = null;
        if (fn.OwnsProtocol)
        {
            (status, error) = Guard(() => fn.Raw!(dir, maxSteps, options.StepDelay.TotalSeconds, stop.Token), cancel, stop.Token);
        }
        else
        {
            var kernel = new KilnKernel(dir, options.Kernel);
            using var metrics = new MetricsWriter(files.MetricsPath);
            var env = new KernelEnv { Log = log, MetricsSink = (step, values) => metrics.Write(step, null, "callback", values.ToArray()) };
            var ctx = new TrainContext
            {
                Files = files, MaxSteps = maxSteps, StepDelay = options.StepDelay, Stop = stop.Token, Seed = options.Seed,
                DataDir = options.DataDir, Kernel = kernel, Env = env, Metrics = metrics, Log = log, Progress = Progress,
                Overrides = options.Params,
            };
            (status, error) = Guard(() => fn.WithContext!(ctx), cancel, stop.Token);
            foreach (var (k, v) in ctx.Params) info.Params![k] = v?.DeepClone();
            try
            {
                if (status == RunInfo.Completed) kernel.End(null, env);
            }
            catch (ReplayMissedException ex)
            {
                (status, error) = (RunInfo.Failed, ex.Message);
            }
            finally
            {
                kernel.Dispose();
            }
            metrics.Flush();
            if (metrics.Dropped > 0) log($"{metrics.Dropped} metric values were dropped because the disk fell behind");
        }
        if (status == RunInfo.Completed && cancel.IsCancellationRequested is false && stop.IsCancellationRequested)
            log($"--max-time reached after {(DateTimeOffset.UtcNow - started).TotalSeconds:0.#} s");
        var final = new JsonObject();
        foreach (var (k, v) in last.OrderBy(kv => kv.Key, StringComparer.Ordinal)) if (double.IsFinite(v)) final[k] = v;
        WriteInfo(files, info with { Status = status, Error = error, End = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0, Metrics = final });
        return new LaunchResult(dir, status, error, lastStep, last);
    }

    /// <summary>Runs the function; a user's cancellation is "stopped", a time limit is "completed", an exception is "failed".</summary>
    private static (string Status, string? Error) Guard(Action run, CancellationToken user, CancellationToken stop)
    {
        try
        {
            run();
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            var inner = ex is System.Reflection.TargetInvocationException { InnerException: { } i } ? i : ex;
            return (RunInfo.Failed, $"{inner.GetType().Name}: {inner.Message}");
        }
        return (user.IsCancellationRequested ? RunInfo.Stopped : RunInfo.Completed, null);
    }

    private static void WriteInfo(RunFiles files, RunInfo info) => AtomicFile.WriteJson(files.RunPath, info.ToJson());

    /// <summary>The commit checked out in <paramref name="dir"/>, or null outside a git repository.</summary>
    private static string? GitHead(string dir)
    {
        try
        {
            var psi = new ProcessStartInfo("git", "rev-parse HEAD")
            {
                WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            using var p = Process.Start(psi);
            if (p is null) return null;
            var output = p.StandardOutput.ReadToEnd().Trim();
            if (!p.WaitForExit(2000)) return null;
            return p.ExitCode == 0 && output.Length >= 7 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
