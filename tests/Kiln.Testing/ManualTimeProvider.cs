namespace Kiln.Testing;

/// <summary>
/// A clock that moves only when a test says so. Its timers (and so <c>Task.Delay</c> on it) fire inside
/// <see cref="Advance"/>, on the test's thread, in the order they fall due.
/// </summary>
public sealed class ManualTimeProvider : TimeProvider
{
    private readonly List<ManualTimer> _timers = [];
    private long _ticks;
    private DateTimeOffset _utc = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Interlocked.Read(ref _ticks);

    public override DateTimeOffset GetUtcNow()
    {
        lock (_timers) return _utc;
    }

    /// <summary>Timers created and not disposed.</summary>
    public int ActiveTimers
    {
        get { lock (_timers) return _timers.Count; }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        lock (_timers) _timers.Add(timer);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Moves the clock on, firing each timer that falls due on the way at its moment.</summary>
    public void Advance(TimeSpan by)
    {
        long end;
        lock (_timers) end = _ticks + by.Ticks;
        while (true)
        {
            ManualTimer? next;
            lock (_timers)
            {
                next = _timers.Where(t => t.Due is { } due && due <= end).MinBy(t => t.Due);
                var to = next?.Due ?? end;
                _utc += TimeSpan.FromTicks(to - _ticks);
                Interlocked.Exchange(ref _ticks, to);
                if (next is null) return;
                next.Due = next.Period > 0 ? to + next.Period : null;
            }
            next.Fire();
        }
    }

    private void Remove(ManualTimer timer)
    {
        lock (_timers) _timers.Remove(timer);
    }

    private sealed class ManualTimer(ManualTimeProvider clock, TimerCallback callback, object? state) : ITimer
    {
        /// <summary>When it fires next (clock ticks), or null when it is stopped.</summary>
        public long? Due { get; set; }

        public long Period { get; private set; }

        public void Fire() => callback(state);

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (clock._timers)
            {
                if (!clock._timers.Contains(this)) return false;
                Due = dueTime == Timeout.InfiniteTimeSpan ? null : clock._ticks + Math.Max(0, dueTime.Ticks);
                Period = period == Timeout.InfiniteTimeSpan ? 0 : period.Ticks;
                return true;
            }
        }

        public void Dispose() => clock.Remove(this);

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
