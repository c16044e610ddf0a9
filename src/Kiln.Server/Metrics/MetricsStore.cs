using Kiln.Metrics;
using Kiln.Protocol;

namespace Kiln.Server.Metrics;

/// <summary>The parsed metrics of recently viewed runs, kept current.</summary>
public sealed class MetricsStore
{
    private readonly Dictionary<string, MetricsReader> _runs = new(StringComparer.Ordinal);
    private readonly HashSet<string> _ready = new(StringComparer.Ordinal);
    private readonly HashSet<string> _reading = new(StringComparer.Ordinal);
    private readonly Dictionary<string, MetricsPreview> _previews = new(StringComparer.Ordinal);
    private readonly LinkedList<string> _recent = new();
    private readonly int _capacity;
    private readonly long _budget;
    private readonly long _previewBytes;

    /// <param name="capacity">At most this many runs are held.</param>
    /// <param name="budgetBytes">About how much memory their columns may take together (a run of 10⁶ steps of three
    /// metrics takes 48 MB); past it the runs viewed longest ago are let go, and read again if asked for.</param>
    /// <param name="previewBytes">A metrics file at least this large, not read yet, is seen through a preview while
    /// it is read whole in the background (see <see cref="Read{T}"/>).</param>
    public MetricsStore(int capacity = 64, long budgetBytes = 1L << 30, long previewBytes = 32L << 20)
    {
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
        lock (_runs)
        {
            if (!_runs.TryGetValue(runDir, out metrics!))
            {
                metrics = new MetricsReader(Path.Combine(runDir, RunFiles.Metrics));
                _runs[runDir] = metrics;
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
        Trim(runDir);
        return metrics;
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
        _runs.Remove(runDir);
        _ready.Remove(runDir);
        _recent.Remove(runDir);
    }
}
