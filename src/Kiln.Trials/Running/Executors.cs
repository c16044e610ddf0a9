using System.Diagnostics;
using Kiln.Kernel;
using Kiln.Protocol;
using Kiln.Trials.Expansion;

namespace Kiln.Trials.Running;

/// <summary>How a trial ended, as its runner saw it.</summary>
public sealed record TrialOutcome(TrialSpec Trial, TrialStatus Status, string? Error, TimeSpan Duration);

/// <summary>Runs one trial somewhere: in this process, in a child process, on a cluster.</summary>
public interface ITrialExecutor
{
    Task<TrialOutcome> RunAsync(string root, TrialSpec trial, CancellationToken stop);
}

/// <summary>Runs trials on threads of this process (the library's <c>run_trials</c>).</summary>
public sealed class InProcessExecutor(KernelOptions? kernel = null) : ITrialExecutor
{
    public Task<TrialOutcome> RunAsync(string root, TrialSpec trial, CancellationToken stop) => Task.Run(() =>
    {
        var clock = Stopwatch.StartNew();
        try
        {
            var result = TrialWorker.Run(root, trial.Dir, kernel, cancel: stop);
            return new TrialOutcome(trial, TrialState.Of(trial.Dir), result.Error, clock.Elapsed);
        }
        catch (Exception ex) when (ex is ProtocolException or IOException or InvalidDataException)
        {
            TrialFailure.Record(trial.Dir, ex.Message);
            return new TrialOutcome(trial, TrialStatus.Failed, ex.Message, clock.Elapsed);
        }
    });
}

/// <summary>
/// Runs each trial as <c>kiln --dir &lt;root&gt; trials worker &lt;trial&gt;</c>: a crash or a leak stays in its process.
/// Output goes to the trial's <c>stdout.log</c> and <c>stderr.log</c>; a worker that dies without saying why is
/// recorded as failed with the tail of its stderr.
/// </summary>
public sealed class ProcessExecutor(string kilnExecutable, int threadsPerTrial) : ITrialExecutor
{
    public async Task<TrialOutcome> RunAsync(string root, TrialSpec trial, CancellationToken stop)
    {
        var clock = Stopwatch.StartNew();
        var info = new ProcessStartInfo(kilnExecutable)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = root,
        };
        foreach (var a in new[] { "--dir", root, "--plain", "trials", "worker", trial.Dir }) info.ArgumentList.Add(a);
        info.Environment["KILN_THREADS"] = threadsPerTrial.ToString(System.Globalization.CultureInfo.InvariantCulture);
        info.Environment["NO_COLOR"] = "1";
        Directory.CreateDirectory(trial.Dir);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {kilnExecutable}");
        var tail = new Queue<string>();
        var stdoutTask = Copy(process.StandardOutput, Path.Combine(trial.Dir, "stdout.log"), null);
        var stderrTask = Copy(process.StandardError, Path.Combine(trial.Dir, "stderr.log"), tail);
        using (stop.Register(() => Signals.Interrupt(process)))
        {
            await process.WaitForExitAsync(CancellationToken.None);
        }
        await Task.WhenAll(stdoutTask, stderrTask);
        var status = TrialState.Of(trial.Dir);
        string? error = null;
        if (status == TrialStatus.Failed) error = TrialState.Info(trial.Dir)?.Error;
        else if (process.ExitCode != 0 && !stop.IsCancellationRequested)
        {
            error = $"the worker exited with code {process.ExitCode}: {string.Join(" | ", tail)}";
            TrialFailure.Record(trial.Dir, error);
            status = TrialStatus.Failed;
        }
        return new TrialOutcome(trial, status, error, clock.Elapsed);
    }

    private static async Task Copy(StreamReader from, string path, Queue<string>? tail)
    {
        await using var to = new StreamWriter(path, append: false);
        while (await from.ReadLineAsync() is { } line)
        {
            await to.WriteLineAsync(line);
            if (tail is null) continue;
            tail.Enqueue(line);
            if (tail.Count > 5) tail.Dequeue();
        }
    }
}

/// <summary>Marks a trial failed in its <c>kiln.run.json</c> when it could not say so itself.</summary>
internal static class TrialFailure
{
    public static void Record(string dir, string error)
    {
        var info = TrialState.Info(dir) ?? new RunInfo { Id = Path.GetFileName(dir), Kind = "trial" };
        Kiln.IO.AtomicFile.WriteJson(Path.Combine(dir, RunFiles.Run), (info with
        {
            Status = RunInfo.Failed,
            Error = error,
            End = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0,
        }).ToJson());
    }
}
