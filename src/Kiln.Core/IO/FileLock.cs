namespace Kiln.IO;

/// <summary>
/// An exclusive advisory lock held through a sidecar lock file, shared by threads and processes alike.
/// The lock lives in a file of its own because .NET takes a shared <c>flock</c> on every file it opens:
/// locking the data file itself would make readers fail while a writer holds it. A killed process
/// releases its lock with its file descriptors.
/// </summary>
public sealed class FileLock : IDisposable
{
    private readonly FileStream _stream;

    private FileLock(FileStream stream) => _stream = stream;

    public static FileLock Acquire(string lockPath) => Acquire(lockPath, TimeSpan.FromSeconds(30));

    public static FileLock Acquire(string lockPath, TimeSpan timeout)
    {
        var spin = new SpinWait();
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (true)
        {
            if (TryAcquire(lockPath, out var held)) return held!;
            if (Environment.TickCount64 > deadline)
                throw new IOException($"{lockPath}: could not take the lock within {timeout.TotalSeconds:0.#} s; another process holds it");
            if (spin.NextSpinWillYield) Thread.Sleep(1); else spin.SpinOnce();
        }
    }

    /// <summary>Takes the lock if it is free; never waits.</summary>
    public static bool TryAcquire(string lockPath, out FileLock? held)
    {
        try
        {
            held = new FileLock(new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None));
            return true;
        }
        catch (IOException ex) when (IsContention(ex))
        {
            held = null;
            return false;
        }
    }

    /// <summary>
    /// Takes the lock if it is free or freed within about 100 ms: <see cref="IsHeld"/> takes a free lock for the instant
    /// of looking, so a lock that is only being looked at is never mistaken for one held by another process.
    /// </summary>
    public static bool TryAcquirePatiently(string lockPath, out FileLock? held)
    {
        for (var attempt = 0; ; attempt++)
        {
            if (TryAcquire(lockPath, out held)) return true;
            if (attempt == 20) return false;
            Thread.Sleep(5);
        }
    }

    /// <summary>
    /// Whether a process holds the lock at <paramref name="lockPath"/> now: null when there is no lock file. The probe
    /// never creates the file, and holds the lock (when free) only for the instant of looking.
    /// </summary>
    public static bool? IsHeld(string lockPath)
    {
        try
        {
            using var probe = new FileStream(lockPath, FileMode.Open, FileAccess.Read, FileShare.None, 1, FileOptions.None);
            return false;
        }
        catch (IOException ex) when (IsContention(ex))
        {
            return true;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    // EWOULDBLOCK from flock on Unix; sharing or lock violation on Windows.
    private static bool IsContention(IOException ex) =>
        ex is not FileNotFoundException and not DirectoryNotFoundException
        && (ex.HResult == 11 || (ex.HResult & 0xFFFF) is 32 or 33);

    public void Dispose() => _stream.Dispose();
}
