using Kiln.Metrics;
using Kiln.Protocol;
using Kiln.Runs;
using Kiln.Server.Live;

namespace Kiln.Server.Metrics;

/// <summary>
/// The parsed metrics of recently viewed runs, kept current: read again up to the end of the file on every look, and,
/// while a held run is running, as its file grows (its <see cref="RunWatcher"/> says when), so a look finds them read.
/// </summary>
internal sealed class MetricsStore
{
    private readonly Dictionary<string, MetricsReader> _runs = new(StringComparer.Ordinal);
    private readonly HashSet<string> _ready = new(StringComparer.Ordinal);
    private readonly HashSet<string> _reading = new(StringComparer.Ordinal);
    private readonly Dictionary<string, MetricsPreview> _previews = new(StringComparer.Ordinal);
    private readonly LinkedList<string> _recent = new();
    private readonly Dictionary<string, IDisposable> _following = new(StringComparer.Ordinal);
    private readonly RunWatchers? _watchers;
    private readonly int _capacity;
    private readonly long _budget;
    private readonly long _previewBytes;

    /// <param name="capacity">At most this many runs are held.</param>
    /// <param name="budgetBytes">About how much memory their columns may take together (a run of 10⁶ steps of three
    /// metrics takes 48 MB); past it the runs viewed longest ago are let go, and read again if asked for.</param>
    /// <param name="previewBytes">A metrics file at least this large, not read yet, is seen through a preview while
    /// it is read whole in the background (see <see cref="Read{T}"/>).</param>
    /// <param name="watchers">Where running runs are followed as they write; without, they are read when looked at.</param>
    public MetricsStore(int capacity = 64, long budgetBytes = 1L << 30, long previewBytes = 32L << 20, RunWatchers? watchers = null)
    {
        _watchers = watchers;
        _capacity = capacity;
        _budget = budgetBytes;
        _previewBytes = previewBytes;
    }

    /// <summary>Whether the run's metrics are held (read already).</summary>
    internal bool Holds(string runDir)
    {
        lock (_runs) return _ready.Contains(runDir);
    }

    /// <summary>
    /// Runs <paramref name="read"/> over the run's metrics, refreshed, when they can be had at once (read already, or a
    /// file under the preview size), holding the run's lock; otherwise over a preview of sampled lines, with the file's
    /// first read started in the background.
    /// </summary>
    internal T Read<T>(string runDir, Func<MetricsView, T> read)
    {
        var metrics = GetOrPreview(runDir, out var preview);
        if (metrics is null) return read(new MetricsView(preview!.Series, preview.Offset, null, Partial: true));
        lock (metrics) return read(new MetricsView(metrics.Series, metrics.Offset, metrics.Lines, Partial: false));
    }

    private MetricsReader? GetOrPreview(string runDir, out MetricsPreview? preview)
    {
        preview = null;
        if (Holds(runDir))
        {
            lock (_previews) _previews.Remove(runDir); // one made while the read was finishing
            return Get(runDir);
        }
        var path = Path.Combine(runDir, RunFiles.Metrics);
        var length = File.Exists(path) ? new FileInfo(path).Length : 0;
        if (length < _previewBytes) return Get(runDir);
        ReadInBackground(runDir);
        lock (_previews)
        {
            if (!_previews.TryGetValue(runDir, out preview) || preview.FileLength != length)
                _previews[runDir] = preview = MetricsPreview.Read(path);
        }
        return null;
    }

    /// <summary>Reads the run's metrics on a pool thread unless they are held or being read.</summary>
    private void ReadInBackground(string runDir)
    {
        lock (_runs)
        {
            if (!_reading.Add(runDir)) return;
        }
        ThreadPool.QueueUserWorkItem(_ =>
        {
            try
            {
                Get(runDir);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // the next request reads it itself, and says why it cannot
            }
            finally
            {
                lock (_runs) _reading.Remove(runDir);
                lock (_previews) _previews.Remove(runDir);
            }
        });
    }

    /// <summary>The run's metrics, refreshed. Callers hold the returned object's lock while reading it.</summary>
    public MetricsReader Get(string runDir)
    {
        MetricsReader metrics;
        var added = false;
        lock (_runs)
        {
            if (!_runs.TryGetValue(runDir, out metrics!))
            {
                metrics = new MetricsReader(Path.Combine(runDir, RunFiles.Metrics));
                _runs[runDir] = metrics;
                added = true;
                if (_runs.Count > _capacity) Forget(_recent.Last!.Value);
            }
            else
            {
                _recent.Remove(runDir);
            }
            _recent.AddFirst(runDir);
        }
        lock (metrics) metrics.Read();
        lock (_runs)
        {
            // Let go of meanwhile (over the budget) by another run's read, it is held again: it was just asked for.
            if (_runs.TryGetValue(runDir, out var held) && ReferenceEquals(held, metrics)) _ready.Add(runDir);
        }
        if (added) Follow(runDir);
        Trim(runDir);
        return metrics;
    }

    /// <summary>Keeps a running run's columns current as its file grows, until the run ends or is let go.</summary>
    private void Follow(string runDir)
    {
        if (_watchers is null || RunState.Read(runDir)?.Status != RunInfo.Running) return;
        var subscription = _watchers.Listen(runDir, changes => OnChange(runDir, changes));
        lock (_runs)
        {
            if (_runs.ContainsKey(runDir) && _following.TryAdd(runDir, subscription)) return;
        }
        subscription.Dispose(); // let go of meanwhile, or followed already
    }

    private void OnChange(string runDir, RunChanges changes)
    {
        if ((changes & RunChanges.Status) != 0 && RunState.Read(runDir)?.Status != RunInfo.Running)
        {
            lock (_runs) Unfollow(runDir);
        }
        // An ended run's last lines are read too.
        if ((changes & (RunChanges.Metrics | RunChanges.Status)) == 0) return;
        MetricsReader? metrics;
        lock (_runs) metrics = _runs.GetValueOrDefault(runDir);
        // A reader in use (a look, the first read of a large file) is reading what was appended already.
        if (metrics is null || !Monitor.TryEnter(metrics)) return;
        try
        {
            metrics.Read();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return; // the next look reads it, and says why it cannot
        }
        finally
        {
            Monitor.Exit(metrics);
        }
        Trim(runDir);
    }

    /// <summary>Stops following the run (the caller holds the lock of the runs).</summary>
    private void Unfollow(string runDir)
    {
        if (_following.Remove(runDir, out var subscription)) subscription.Dispose();
    }

    /// <summary>Whether the store follows the run as it writes.</summary>
    internal bool Follows(string runDir)
    {
        lock (_runs) return _following.ContainsKey(runDir);
    }

    /// <summary>Lets go of the runs viewed longest ago while the held columns exceed the budget (never <paramref name="keep"/>).</summary>
    private void Trim(string keep)
    {
        lock (_runs)
        {
            var total = _runs.Values.Sum(m => m.Bytes);
            while (total > _budget && _recent.Last is { } oldest && oldest.Value != keep)
            {
                total -= _runs[oldest.Value].Bytes;
                Forget(oldest.Value);
            }
        }
    }

    /// <summary>Lets go of the run viewed longest ago (the caller holds the lock of the runs).</summary>
    private void Forget(string runDir)
    {
        Unfollow(runDir);
        _runs.Remove(runDir);
        _ready.Remove(runDir);
        _recent.Remove(runDir);
    }
}
