using Kiln.IO;
using Kiln.Modules.Tune;
using Kiln.Protocol;

namespace Kiln.Server.Control;

/// <summary>
/// Each run's <see cref="TuneHistory"/>, read again only when its ledger or <c>kiln.tune.json</c> has changed (one
/// <c>stat</c> each): the tune panel asks every two seconds, and a long run's ledger need not be parsed each time.
/// Not thread-safe: its caller locks it.
/// </summary>
internal sealed class TuneHistoryCache
{
    private readonly Dictionary<string, (FileStamp Ledger, FileStamp Tune, TuneHistory History)> _byDir = new(StringComparer.Ordinal);

    /// <summary>The history of the run at <paramref name="dir"/>; throws <see cref="ProtocolException"/> as <see cref="TuneHistory.Read"/> does.</summary>
    public TuneHistory Of(string dir)
    {
        var files = new RunFiles(dir);
        var ledger = FileStamp.Of(files.LedgerPath);
        var tune = FileStamp.Of(files.TunePath);
        if (_byDir.TryGetValue(dir, out var cached) && cached.Ledger == ledger && cached.Tune == tune) return cached.History;
        var history = TuneHistory.Read(files);
        _byDir[dir] = (ledger, tune, history);
        return history;
    }
}
