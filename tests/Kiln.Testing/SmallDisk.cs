namespace Kiln.Testing;

/// <summary>
/// A real file system that fills up: a small tmpfs mounted on a temporary directory, which a test fills
/// (<see cref="Fill"/>) and frees again (<see cref="Free"/>). Mounting needs root (CAP_SYS_ADMIN);
/// <see cref="Unavailable"/> says why it cannot be had where the tests run.
/// </summary>
public sealed class SmallDisk : IDisposable
{
    private static readonly Lazy<string?> Probe = new(() =>
    {
        try
        {
            using var disk = new SmallDisk(64 * 1024);
            return null;
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception or IOException)
        {
            return ex.Message;
        }
    });

    private readonly TempDir _dir = new("disk");
    private readonly string _ballast;
    private bool _mounted;

    public SmallDisk(int bytes)
    {
        try
        {
            Tool.Run("mount", "-t", "tmpfs", "-o", $"size={bytes},mode=0755", "tmpfs", _dir.Path);
            _mounted = true;
        }
        catch
        {
            _dir.Dispose();
            throw;
        }
        _ballast = System.IO.Path.Combine(_dir.Path, ".ballast");
    }

    /// <summary>Null when a tmpfs can be mounted here, else why not.</summary>
    public static string? Unavailable => Probe.Value;

    public string Path => _dir.Path;

    public string Sub(string name) => _dir.Sub(name);

    /// <summary>Fills the file system up with a ballast file, but for about <paramref name="leave"/> bytes (whole pages).</summary>
    public void Fill(int leave = 0)
    {
        using var handle = File.OpenHandle(_ballast, FileMode.OpenOrCreate, FileAccess.ReadWrite);
        var chunk = new byte[64 * 1024];
        var at = RandomAccess.GetLength(handle);
        try
        {
            while (true)
            {
                RandomAccess.Write(handle, chunk, at);
                at += chunk.Length;
            }
        }
        catch (IOException)
        {
            // Full; a write cut short left its part in the file.
        }
        var length = RandomAccess.GetLength(handle);
        if (leave > 0) RandomAccess.SetLength(handle, Math.Max(0, length - (leave + 4095) / 4096 * 4096));
    }

    /// <summary>Gives the ballast's space back.</summary>
    public void Free() => File.Delete(_ballast);

    public void Dispose()
    {
        if (_mounted)
        {
            try { Tool.Run("umount", _dir.Path); }
            catch (InvalidOperationException) { Tool.Run("umount", "-l", _dir.Path); }
            _mounted = false;
        }
        _dir.Dispose();
    }
}
