using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Runs;

/// <summary>
/// <c>kiln.run.json</c> as its run writes it: whole (write, then rename). A full disk must not leave the record behind —
/// saying <c>running</c> with a stale heartbeat while the run waits for space, or never saying it failed — so the run
/// keeps room aside: a hidden file of <see cref="ReserveBytes"/> made when it starts. A write that fails for want of
/// space gives that room up, writes the record, and sets the room aside again (the old record's blocks come back too).
/// </summary>
internal sealed class RunRecord(string path)
{
    /// <summary>Room for a record with a good many parameters and metrics, written twice over (the new file, then the rename).</summary>
    public const int ReserveBytes = 64 * 1024;

    private readonly string _reserve = Path.Combine(Path.GetDirectoryName(path)!, "." + Path.GetFileName(path) + ".reserve");

    /// <summary>Sets the room aside. A disk already too full for it is met when the run writes; the run starts without.</summary>
    public void Reserve()
    {
        try
        {
            using var fs = new FileStream(_reserve, FileMode.Create, FileAccess.Write, FileShare.None, 1);
            // Written, not sized: a sparse file holds no blocks. Random bytes, as a compressing file system would keep
            // zeros in no room at all.
            var bytes = new byte[ReserveBytes];
            Random.Shared.NextBytes(bytes);
            fs.Write(bytes);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Release();
        }
    }

    /// <summary>Writes the record; on a full disk, into the room set aside.</summary>
    public void Write(RunInfo info, bool durable = true) => Write(info, durable, last: false);

    /// <summary>Writes the run's last record — into the room set aside when the disk has none left — and gives the room back.</summary>
    public void WriteLast(RunInfo info)
    {
        try
        {
            Write(info, durable: true, last: true);
        }
        finally
        {
            Release();
        }
    }

    private void Write(RunInfo info, bool durable, bool last)
    {
        try
        {
            AtomicFile.WriteJson(path, info.ToJson(), durable);
        }
        catch (IOException ex) when (DiskFull.Is(ex) && File.Exists(_reserve))
        {
            Release();
            AtomicFile.WriteJson(path, info.ToJson(), durable);
            if (!last) Reserve();
        }
    }

    /// <summary>Gives the room back.</summary>
    public void Release()
    {
        try { File.Delete(_reserve); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { /* a read-only directory keeps it */ }
    }
}
