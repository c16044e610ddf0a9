using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Runs;

/// <summary>
/// The one reader of <c>kiln.run.json</c>. A run that says <c>running</c> is believed only while its process is
/// alive (same host) and its heartbeat is fresh; otherwise it reads as <c>interrupted</c>, so nobody is told that a
/// killed run is still training. A directory without a record whose kernel lock is held reads as a running <c>loop</c>.
/// </summary>
public static class RunState
{
    /// <summary>A heartbeat older than this means the process stopped writing it (killed, frozen, or on a lost host).</summary>
    public static readonly TimeSpan StaleAfter = TimeSpan.FromSeconds(90);

    /// <summary>The run's record with its true status, or null when there is none or it cannot be read.</summary>
    public static RunInfo? Read(string dir, TimeProvider? time = null) =>
        TryRead(dir, out var info, out _, time) ? info : null;

    /// <summary>Reads the record; <paramref name="error"/> names the fault when the file exists but cannot be read.</summary>
    public static bool TryRead(string dir, out RunInfo? info, out string? error, TimeProvider? time = null)
    {
        info = null;
        error = null;
        var path = Path.Combine(dir, RunFiles.Run);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            info = KernelLoop(dir);
            return info is not null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error = $"{path}: {ex.Message}";
            return false;
        }
        try
        {
            info = Resolve(RunInfo.FromJson(JsonValues.ParseDocument(bytes, "content")), dir, time);
            return true;
        }
        catch (ProtocolException ex)
        {
            error = $"{path}: {ex.Message}";
            return false;
        }
    }

    /// <summary>
    /// A loop that runs the kernel without a run record (its own training loop, a console program): running while its
    /// kernel holds the kernel lock, which nothing else can hold for it. Null when the lock is free or absent.
    /// </summary>
    private static RunInfo? KernelLoop(string dir)
    {
        var lockPath = Path.Combine(dir, RunFiles.KernelLock);
        if (FileLock.IsHeld(lockPath) != true) return null;
        DateTimeOffset started = File.GetLastWriteTimeUtc(lockPath);
        return new RunInfo { Id = Path.GetFileName(Path.TrimEndingDirectorySeparator(dir)), Kind = "loop", Status = RunInfo.Running, Start = started.ToUnixTimeMilliseconds() / 1000.0 };
    }

    /// <summary>
    /// The record as it truly stands: a <c>running</c> run whose process is gone is <c>interrupted</c>, unless it wrote
    /// its trial's <c>batch_log.csv</c> (written last, so the training finished) before it could say so.
    /// </summary>
    public static RunInfo Resolve(RunInfo info, string dir, TimeProvider? time = null)
    {
        if (info.Status != RunInfo.Running || IsLive(info, dir, time)) return info;
        return File.Exists(Path.Combine(dir, RunFiles.BatchLog))
            ? info with { Status = RunInfo.Completed }
            : info with { Status = RunInfo.Interrupted };
    }

    /// <summary>
    /// Whether the process that wrote a <c>running</c> record is still at work. On this host a live run holds its
    /// directory's run lock, which a dead process cannot (a pid can be reused, and a zombie's lingers); where there is
    /// no lock file (a trainer that speaks the protocol itself), the pid must name a live process.
    /// </summary>
    public static bool IsLive(RunInfo info, string dir, TimeProvider? time = null)
    {
        var now = (time ?? TimeProvider.System).GetUtcNow().ToUnixTimeMilliseconds() / 1000.0;
        if (info.Heartbeat is { } beat && now - beat > StaleAfter.TotalSeconds) return false;
        if (info.Host is null || string.Equals(info.Host, Environment.MachineName, StringComparison.Ordinal))
        {
            if (info.Pid is not { } pid || !Processes.IsAlive(pid)) return false;
            return FileLock.IsHeld(Path.Combine(dir, KilnRun.LockFile)) ?? true;
        }
        // Another host's process cannot be seen from here: its heartbeat is the only sign of life.
        return info.Heartbeat is not null;
    }
}
