using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Kernel;

/// <summary>
/// The kernel's side of <c>kiln.applied.jsonl</c>: numbers lines, stamps them and appends them whole. Opening it
/// recovers the state a restarted kernel needs: the last <c>seq</c> and every <c>cid</c> already decided.
/// </summary>
public sealed class Ledger
{
    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly HashSet<string> _cids = new(StringComparer.Ordinal);

    private Ledger(string path, TimeProvider time)
    {
        _path = path;
        _time = time;
    }

    public string Path => _path;
    public long LastSeq { get; private set; }
    public IReadOnlySet<string> Cids => _cids;

    /// <summary>Bytes of a torn last line dropped at opening (a kernel killed while writing it).</summary>
    public long DroppedTornBytes { get; private set; }

    /// <summary>Complete lines that could not be read at opening (edited by hand?), with their line numbers.</summary>
    public List<string> Problems { get; } = [];

    public static Ledger Open(string path, TimeProvider time)
    {
        var ledger = new Ledger(path, time);
        ledger.Recover();
        return ledger;
    }

    private void Recover()
    {
        if (!File.Exists(_path)) return;
        var tail = new JsonlTail(_path);
        var lines = new List<JsonlLine>();
        while (tail.Poll(lines) > 0)
        {
            foreach (var line in lines)
            {
                if (!line.Oversized && LedgerHeader.TryRead(line.Bytes.Span, out var h))
                {
                    LastSeq = Math.Max(LastSeq, h.Seq);
                    if (h.Cid is not null) _cids.Add(h.Cid);
                }
                else
                {
                    Problems.Add($"{System.IO.Path.GetFileName(_path)} line {line.Number}: not a ledger line");
                }
            }
        }
        if (tail.PendingBytes > 0)
        {
            // A line without its newline is a record the previous kernel never finished; the change it
            // describes died with that process, so the line is dropped rather than glued to the next one.
            using var held = FileLock.Acquire(JsonlFile.LockPathFor(_path));
            using var fs = new FileStream(_path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
            DroppedTornBytes = fs.Length - tail.Offset;
            fs.SetLength(tail.Offset);
        }
    }

    public bool Contains(string cid) => _cids.Contains(cid);

    /// <summary>Numbers, stamps and appends an entry; returns it as written.</summary>
    public LedgerEntry Append(LedgerEntry draft)
    {
        var entry = draft with { Seq = LastSeq + 1, WallTime = _time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0 };
        JsonlFile.Append(_path, entry.ToJsonLine());
        LastSeq = entry.Seq;
        if (entry.Cid is not null) _cids.Add(entry.Cid);
        return entry;
    }

    /// <summary>Reads every complete, readable line of a ledger; unreadable ones go to <paramref name="problems"/>.</summary>
    /// <param name="torn">Told how many bytes follow the last complete line, when any do.</param>
    public static List<LedgerEntry> ReadAll(string path, List<string>? problems = null, Action<long>? torn = null)
    {
        var entries = new List<LedgerEntry>();
        var tornBytes = JsonlTail.ReadAll(path, line =>
        {
            try
            {
                if (line.Oversized) throw new ProtocolException($"line of {line.Length} bytes exceeds the limit");
                entries.Add(LedgerEntry.FromJson(JsonValues.ParseDocument(line.Bytes.Span, "line")));
            }
            catch (ProtocolException ex)
            {
                problems?.Add($"{System.IO.Path.GetFileName(path)} line {line.Number}: {ex.Message}");
            }
        });
        if (tornBytes > 0) torn?.Invoke(tornBytes);
        return entries;
    }
}
