using Kiln.IO;
using Kiln.Protocol;
using Kiln.Runs;

namespace Kiln.Server.Live;

/// <summary>
/// Looks at one run directory's files every <see cref="RunWatchers.Interval"/> (one <c>stat</c> per file) and tells
/// its listeners what changed; they read what they need themselves, each from where it is. One watcher serves every
/// listener of a run (its open event streams, the metrics store keeping the run's columns current), so a run watched
/// from ten tabs is still looked at once per tick. Made and let go by <see cref="RunWatchers"/>.
/// </summary>
internal sealed class RunWatcher
{
    /// <summary>Every this many ticks a run that says <c>running</c> is asked whether its process is still there.</summary>
    private const int LivenessTicks = 10;

    private readonly RunFiles _files;
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private readonly object _gate = new();
    private readonly ITimer _timer;
    private Action<RunChanges>[] _listeners = [];
    private FileStamp _metrics, _ledger, _actuators, _status;
    private long _ticks;
    private volatile bool _interrupted;
    private bool _stopped;

    internal RunWatcher(string dir, TimeProvider time, TimeSpan interval)
    {
        Dir = dir;
        _files = new RunFiles(dir);
        _time = time;
        _interval = interval;
        (_metrics, _ledger, _actuators, _status) = Stamps();
        // One tick at a time: the timer is armed again when a tick is done, never periodic (and armed first once it is
        // assigned, which the tick needs).
        _timer = time.CreateTimer(static w => ((RunWatcher)w!).Tick(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _timer.Change(interval, Timeout.InfiniteTimeSpan);
    }

    public string Dir { get; }

    /// <summary>
    /// The run says <c>running</c> but its process is gone (it died without writing its end). Cleared when
    /// <c>kiln.run.json</c> changes.
    /// </summary>
    public bool Interrupted => _interrupted;

    /// <summary>How many listen now.</summary>
    public int Listeners => Volatile.Read(ref _listeners).Length;

    internal void Add(Action<RunChanges> listener)
    {
        lock (_gate) _listeners = [.. _listeners, listener];
    }

    /// <summary>Removes a listener; returns how many are left.</summary>
    internal int Remove(Action<RunChanges> listener)
    {
        lock (_gate)
        {
            var at = Array.IndexOf(_listeners, listener);
            if (at >= 0) _listeners = [.. _listeners[..at], .. _listeners[(at + 1)..]];
            return _listeners.Length;
        }
    }

    /// <summary>Stops looking (no listener is left).</summary>
    internal void Stop()
    {
        lock (_gate) _stopped = true;
        _timer.Dispose();
    }

    private (FileStamp Metrics, FileStamp Ledger, FileStamp Actuators, FileStamp Status) Stamps() =>
        (FileStamp.Of(_files.MetricsPath), FileStamp.Of(_files.LedgerPath), FileStamp.Of(_files.ActuatorsPath), FileStamp.Of(_files.RunPath));

    private void Tick()
    {
        try
        {
            var changes = Look();
            if (changes != RunChanges.None)
            {
                foreach (var listener in Volatile.Read(ref _listeners)) listener(changes);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A file that cannot be looked at now is looked at again on the next tick.
        }
        finally
        {
            lock (_gate)
            {
                if (!_stopped) _timer.Change(_interval, Timeout.InfiniteTimeSpan);
            }
        }
    }

    private RunChanges Look()
    {
        var (metrics, ledger, actuators, status) = Stamps();
        var changes = RunChanges.None;
        if (metrics != _metrics) changes |= RunChanges.Metrics;
        if (ledger != _ledger) changes |= RunChanges.Ledger;
        if (actuators != _actuators) changes |= RunChanges.Actuators;
        if (status != _status)
        {
            changes |= RunChanges.Status;
            _interrupted = false;
        }
        else if (!_interrupted && _ticks % LivenessTicks == 0 && status.Exists && RunState.Read(Dir, _time)?.Status == RunInfo.Interrupted)
        {
            // The process died without writing its end: said once, as the runs list says it.
            _interrupted = true;
            changes |= RunChanges.Status;
        }
        (_metrics, _ledger, _actuators, _status) = (metrics, ledger, actuators, status);
        _ticks++;
        return changes;
    }
}
