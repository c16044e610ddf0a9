using Kiln.Testing;

namespace Kiln.Core.Tests;

/// <summary>A test on a real file system that fills up (a small tmpfs); skipped, saying why, where none can be mounted.</summary>
public sealed class SmallDiskFactAttribute : FactAttribute
{
    public SmallDiskFactAttribute()
    {
        if (SmallDisk.Unavailable is { } why) Skip = $"needs a small tmpfs to fill up, and none can be mounted here (run the tests as root): {why}";
    }
}

/// <summary>A test on a real read-only directory (chattr +i); skipped, saying why, where none can be made.</summary>
public sealed class ReadOnlyDirFactAttribute : FactAttribute
{
    public ReadOnlyDirFactAttribute()
    {
        if (ReadOnlyDir.Unavailable is { } why) Skip = $"needs a directory made immutable with chattr +i, which cannot be done here (run the tests as root on ext4/xfs/btrfs): {why}";
    }
}

/// <summary>A test writing to <c>/dev/full</c>, where every write fails for want of space; skipped where there is none.</summary>
public sealed class DevFullFactAttribute : FactAttribute
{
    public const string Path = "/dev/full";

    public DevFullFactAttribute()
    {
        if (!File.Exists(Path)) Skip = $"needs {Path} (Linux), which is missing here";
    }
}
