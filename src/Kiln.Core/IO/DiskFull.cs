namespace Kiln.IO;

/// <summary>Whether a write failed for want of space: the one file-system error that waiting can cure.</summary>
public static class DiskFull
{
    // ENOSPC is 28 everywhere; EDQUOT (over quota) is 122 on Linux, 69 on macOS. On Windows: ERROR_HANDLE_DISK_FULL, ERROR_DISK_FULL.
    public static bool Is(Exception ex) => ex is IOException io && (OperatingSystem.IsWindows()
        ? (io.HResult & 0xFFFF) is 39 or 112
        : io.HResult == 28 || io.HResult == (OperatingSystem.IsMacOS() ? 69 : 122));
}
