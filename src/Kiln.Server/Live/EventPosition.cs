using System.Globalization;
using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Server.Live;

/// <summary>
/// Where a run's event stream stands: the offsets of <c>kiln.metrics.jsonl</c> and of the ledger it has sent up to,
/// written <c>m:&lt;offset&gt;;l:&lt;offset&gt;</c> as each event's id.
/// </summary>
internal readonly record struct EventPosition(long Metrics, long Ledger)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"m:{Metrics};l:{Ledger}");

    /// <summary>A position a client sent back; what it leaves out is where the file's complete lines end now.</summary>
    public static EventPosition Parse(string? position, RunFiles files)
    {
        long? m = null, l = null;
        foreach (var part in (position ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = part.Split(':', 2);
            if (kv.Length == 2 && long.TryParse(kv[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 0)
            {
                if (kv[0] == "m") m = v;
                else if (kv[0] == "l") l = v;
            }
        }
        return new EventPosition(m ?? End(files.MetricsPath), l ?? End(files.LedgerPath));
    }

    /// <summary>Where the complete lines end: a partial line is left for the stream.</summary>
    private static long End(string path)
    {
        if (!File.Exists(path)) return 0;
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        return JsonlTail.AfterLastNewline(handle, RandomAccess.GetLength(handle));
    }
}
