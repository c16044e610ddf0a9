using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Metrics.Epochs;

/// <summary>
/// Builds a trial's <c>epoch_log.csv</c> from its <c>batch_log.csv</c>: rows grouped by (epoch, mode), each numeric
/// column reduced as <see cref="Reductions"/> says (mean when it is not listed), <c>batch</c> dropped, and the group's
/// row count appended as <c>n_batches</c>. The semantics are pandas's <c>groupby(["epoch", "mode"], sort=False).agg(…)</c>:
/// empty and NaN cells are missing and skipped, a group with no value gets an empty cell, and a column with a cell
/// that is neither a number nor missing is left out. The log is streamed (<see cref="EpochAggregation"/>): memory
/// does not grow with its size.
/// </summary>
public static class EpochLog
{
    /// <summary>Column → reduction (<c>mean</c>, <c>last</c>, <c>median</c> or <c>max</c>); unlisted numeric columns take the mean.</summary>
    public static IReadOnlyDictionary<string, string> Reductions { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["loss"] = "mean",
        ["acc"] = "mean",
        ["lr"] = "last",
        ["iter_budget"] = "last",
        ["grad_norm"] = "median",
        ["error_min"] = "median",
        ["error_med"] = "median",
        ["error_max"] = "median",
        ["iter_min"] = "median",
        ["iter_med"] = "median",
        ["iter_max"] = "median",
        ["time"] = "max",
    }.AsReadOnly();

    /// <summary>The reduction applied to a numeric column.</summary>
    public static string ReductionOf(string column) => Reductions.GetValueOrDefault(column, "mean");

    /// <summary>Reads <paramref name="batchLogPath"/> and reduces it; bad input is a <see cref="ProtocolException"/> naming the file and line.</summary>
    public static EpochTable Aggregate(string batchLogPath) => new EpochAggregation().Run(batchLogPath);

    /// <summary>The table as <c>epoch_log.csv</c>: a header, then one line per row, numbers in round-trip form, missing values empty.</summary>
    public static string ToCsv(EpochTable table) => EpochLogCsv.Write(table);

    /// <summary>
    /// The trial's epoch table, from <c>epoch_log.csv</c> when it is newer than <c>batch_log.csv</c>; otherwise
    /// (missing, older, unreadable) rebuilt from <c>batch_log.csv</c> and written atomically.
    /// </summary>
    public static EpochTable Ensure(string trialDir)
    {
        var batchPath = Path.Combine(trialDir, RunFiles.BatchLog);
        var epochPath = Path.Combine(trialDir, RunFiles.EpochLog);
        var batchInfo = new FileInfo(batchPath);
        if (!batchInfo.Exists) throw new FileNotFoundException($"{batchPath}: not found; the trial has no {RunFiles.BatchLog}", batchPath);
        // Taken before reading, so that lines appended while we read make the batch log newer than what we write.
        var batchTime = batchInfo.LastWriteTimeUtc;
        var epochInfo = new FileInfo(epochPath);
        if (epochInfo.Exists && epochInfo.LastWriteTimeUtc > batchTime && EpochLogCsv.TryRead(epochPath) is { } cached)
        {
            return cached with { TornTail = TailIsTorn(batchPath) };
        }
        var table = Aggregate(batchPath);
        AtomicFile.WriteAllText(epochPath, ToCsv(table));
        // Stamped just after the batch log it reflects rather than at the time of writing: a line appended between
        // our read and our write then still leaves the batch log newer, and the next call rebuilds.
        File.SetLastWriteTimeUtc(epochPath, batchTime.AddTicks(1));
        if (File.GetLastWriteTimeUtc(epochPath) <= batchTime)
        {
            // A file system too coarse to hold the stamp: the time of writing is the best left.
            File.SetLastWriteTimeUtc(epochPath, DateTime.UtcNow);
        }
        return table;
    }

    private static bool TailIsTorn(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var length = RandomAccess.GetLength(handle);
        if (length == 0) return false;
        Span<byte> lastByte = stackalloc byte[1];
        return RandomAccess.Read(handle, lastByte, length - 1) == 1 && lastByte[0] != (byte)'\n';
    }
}
