namespace Kiln.Testing;

/// <summary>
/// Makes a directory and everything in it immutable (<c>chattr -R +i</c>) until disposed: nothing in it can be created,
/// written, renamed or deleted — by root either, for whom permission bits mean nothing. Needs root and a file system
/// with the attribute (ext4, xfs, btrfs); <see cref="Unavailable"/> says why it cannot be had where the tests run.
/// </summary>
public sealed class ReadOnlyDir : IDisposable
{
    private static readonly Lazy<string?> Probe = new(() =>
    {
        using var dir = new TempDir("ro-probe");
        try
        {
            using (new ReadOnlyDir(dir.Path))
            {
                try
                {
                    File.WriteAllText(dir.File("x"), "x");
                    return "chattr +i left the directory writable";
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    return null;
                }
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return ex.Message;
        }
    });

    private readonly string _path;

    public ReadOnlyDir(string path)
    {
        _path = path;
        Tool.Run("chattr", "-R", "+i", path);
    }

    /// <summary>Null when directories can be made immutable here, else why not.</summary>
    public static string? Unavailable => Probe.Value;

    public void Dispose() => Tool.Run("chattr", "-R", "-i", _path);
}
