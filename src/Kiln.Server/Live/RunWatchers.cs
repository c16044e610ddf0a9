namespace Kiln.Server.Live;

/// <summary>
/// The server's run watchers: at most one <see cref="RunWatcher"/> per run directory, made when its first listener
/// comes and stopped when its last one leaves.
/// </summary>
internal sealed class RunWatchers(TimeProvider time, TimeSpan? interval = null) : IDisposable
{
    private readonly Dictionary<string, RunWatcher> _watchers = new(StringComparer.Ordinal);

    /// <summary>How often a watched run's files are looked at.</summary>
    public TimeSpan Interval { get; } = interval ?? TimeSpan.FromMilliseconds(200);

    public TimeProvider Time { get; } = time;

    /// <summary>How many runs are watched now.</summary>
    public int Count
    {
        get { lock (_watchers) return _watchers.Count; }
    }

    /// <summary>The run's watcher, if anyone listens to it.</summary>
    public RunWatcher? Find(string dir)
    {
        lock (_watchers) return _watchers.GetValueOrDefault(Path.GetFullPath(dir));
    }

    /// <summary>
    /// Calls <paramref name="listener"/> (on a timer's thread) with what changed in the run directory, until the
    /// returned subscription is disposed.
    /// </summary>
    public Subscription Listen(string dir, Action<RunChanges> listener)
    {
        dir = Path.GetFullPath(dir);
        lock (_watchers)
        {
            if (!_watchers.TryGetValue(dir, out var watcher)) _watchers[dir] = watcher = new RunWatcher(dir, Time, Interval);
            watcher.Add(listener);
            return new Subscription(this, watcher, listener);
        }
    }

    private void Leave(RunWatcher watcher, Action<RunChanges> listener)
    {
        lock (_watchers)
        {
            if (watcher.Remove(listener) > 0) return;
            if (_watchers.GetValueOrDefault(watcher.Dir) == watcher) _watchers.Remove(watcher.Dir);
            watcher.Stop();
        }
    }

    /// <summary>Stops every watcher (the server stops).</summary>
    public void Dispose()
    {
        lock (_watchers)
        {
            foreach (var watcher in _watchers.Values) watcher.Stop();
            _watchers.Clear();
        }
    }

    /// <summary>One listener's place at a watcher; disposing it leaves.</summary>
    internal sealed class Subscription(RunWatchers owner, RunWatcher watcher, Action<RunChanges> listener) : IDisposable
    {
        private int _left;

        public RunWatcher Watcher => watcher;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _left, 1) == 0) owner.Leave(watcher, listener);
        }
    }
}
