using Kiln.IO;
using Kiln.Protocol;
using Kiln.Registry;
using Kiln.Registry.Records;
using Kiln.Registry.Store;
using Kiln.Registry.Workspace;
using Kiln.Server.Security;

namespace Kiln.Server.Runs;

/// <summary>
/// The served workspace's registry as the runs list reads it: every recorded run by its folder, loaded again only when
/// <c>registry.db</c> (or its write-ahead log) changed. Only the served folder's own registry counts — a workspace above
/// it, or a registry reached through a link out of it, is not the server's to show.
/// </summary>
internal sealed class RegistryRuns(string root, Confinement confinement)
{
    private readonly object _gate = new();
    private (FileStamp Db, FileStamp Wal) _stamp;
    private Dictionary<string, RunRecord> _byDir = new(StringComparer.Ordinal);

    /// <summary>Changes each time the records are loaded again: summaries made from older records are made again.</summary>
    public int Version { get; private set; }

    /// <summary>The workspace whose registry the server may read: the served folder itself, when it is one.</summary>
    public static WorkspacePaths? Served(string root, Confinement confinement)
    {
        var workspace = new WorkspacePaths(root);
        return File.Exists(workspace.Config) && File.Exists(workspace.Registry) && confinement.Holds(workspace.Registry) ? workspace : null;
    }

    /// <summary>Recorded runs by their folder (relative to the root, with '/'); empty outside a workspace or when the registry cannot be read.</summary>
    public IReadOnlyDictionary<string, RunRecord> ByDir()
    {
        lock (_gate)
        {
            if (Served(root, confinement) is not { } workspace)
            {
                if (_byDir.Count > 0) (_byDir, _stamp, Version) = (new(StringComparer.Ordinal), default, Version + 1);
                return _byDir;
            }
            var stamp = (FileStamp.Of(workspace.Registry), FileStamp.Of(workspace.Registry + "-wal"));
            if (stamp == _stamp) return _byDir;
            Version++;
            try
            {
                using var db = RegistryDb.Open(workspace);
                var byDir = new Dictionary<string, RunRecord>(StringComparer.Ordinal);
                foreach (var record in db.Query(ModelQuery.AllRuns)) byDir[record.Dir] = record;
                (_byDir, _stamp) = (byDir, stamp);
            }
            catch (RegistryException)
            {
                // A registry that cannot be read leaves the list to the run folders, which stay the source of truth.
                (_byDir, _stamp) = (new(StringComparer.Ordinal), stamp);
            }
            return _byDir;
        }
    }

    /// <summary>
    /// Whether <paramref name="record"/> still says what the folder's files say: a run that has ended, and whose
    /// <c>kiln.run.json</c> was last written when it ended (a run started again in the folder rewrites it later).
    /// Running, pending and unreadable runs are read from their files.
    /// </summary>
    public static bool Current(RunRecord record, FileStamp run) =>
        record.Status is RunInfo.Completed or RunInfo.Failed or RunInfo.Stopped or RunInfo.Interrupted
        && record.End is { } end && record.Metrics is not null && run.Exists
        && run.ModifiedTicks <= DateTime.UnixEpoch.AddSeconds(end + Slack).Ticks;

    /// <summary>How long after its recorded end a run's <c>kiln.run.json</c> may still have been written by that run.</summary>
    private const double Slack = 5;
}
