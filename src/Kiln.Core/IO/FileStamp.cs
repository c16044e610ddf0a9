namespace Kiln.IO;

/// <summary>Size and modification time of a file, to notice changes with one <c>stat</c>.</summary>
public readonly record struct FileStamp(bool Exists, long Length, long ModifiedTicks)
{
    public static FileStamp Of(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? new FileStamp(true, info.Length, info.LastWriteTimeUtc.Ticks) : default;
    }
}
