using System.Buffers;
using System.Text.Json;
using Kiln.IO;
using Microsoft.Win32.SafeHandles;

namespace Kiln.Metrics;

/// <summary>
/// Appends the trainer's metrics to <c>kiln.metrics.jsonl</c> without ever making the training loop wait for the
/// disk: <see cref="Write"/> copies the values into memory under a short lock, and a background thread turns them
/// into whole JSON lines every <see cref="MetricsWriterOptions.FlushInterval"/>. If the disk stalls for long, values past
/// <see cref="MaxQueuedValues"/> are dropped and counted (<see cref="Dropped"/>) rather than blocking the loop.
/// </summary>
/// <remarks>
/// The file only ever holds whole lines. A write that fails (a full disk, a read-only file) is taken back to the last
/// whole line; the writer then says so at once (<see cref="MetricsWriterOptions.StateChanged"/>) and writes nothing
/// more — a later line after a gap would hide the loss — or, with <see cref="MetricsWriterOptions.WaitForSpace"/> on a
/// full disk, holds its lines and the training loop until space returns. A torn last line left by a writer killed
/// mid-line is cut off when the file is opened.
/// </remarks>
public sealed class MetricsWriter : IDisposable
{
    /// <summary>Values held in memory at most while the disk is behind.</summary>
    public const int MaxQueuedValues = 4_000_000;

    private readonly object _gate = new();
    private readonly MetricsWriterOptions _options;
    private readonly SafeFileHandle _file;
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly CancellationTokenRegistration _giveUp;

    // The drain thread's own: lines serialized and not yet in the file, and where the file's whole lines end.
    private readonly ArrayBufferWriter<byte> _pending = new(1 << 16);
    private long _pendingLines;
    private long _pendingLastStep;
    private long _end;

    // Under _gate.
    private Batch _filling = new();
    private Batch _draining = new();
    private long _enqueued;
    private long _done;
    private long _dropped;
    private long _lost;
    private long? _lastStep;
    private Exception? _error;
    private string? _failure;
    private volatile MetricsWriterState _state;
    private volatile bool _closing;

    private sealed class Batch
    {
        public readonly List<(long Step, int? Epoch, string? Phase, double Wall, int Start, int Count)> Records = [];
        public readonly List<string> Names = [];
        public readonly List<double> Values = [];

        public void Clear()
        {
            Records.Clear();
            Names.Clear();
            Values.Clear();
        }
    }

    public MetricsWriter(string path, TimeProvider? time = null, TimeSpan? flushInterval = null)
        : this(path, new MetricsWriterOptions { Time = time ?? TimeProvider.System, FlushInterval = flushInterval ?? TimeSpan.FromMilliseconds(50) })
    {
    }

    public MetricsWriter(string path, MetricsWriterOptions options)
    {
        _options = options;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        _file = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        try
        {
            var length = RandomAccess.GetLength(_file);
            _end = JsonlTail.AfterLastNewline(_file, length);
            // The fragment of a writer killed mid-line: the new lines must not be glued to it.
            if (_end < length) RandomAccess.SetLength(_file, _end);
        }
        catch
        {
            _file.Dispose();
            throw;
        }
        Path = path;
        _giveUp = options.GiveUp.Register(() =>
        {
            _wake.Set();
            lock (_gate) Monitor.PulseAll(_gate);
        });
        _thread = new Thread(Drain) { IsBackground = true, Name = "kiln-metrics" };
        _thread.Start();
    }

    public string Path { get; }

    /// <summary>Values dropped because the disk fell too far behind.</summary>
    public long Dropped
    {
        get { lock (_gate) return _dropped; }
    }

    /// <summary>Lines not written because writing failed (those queued when it failed, and every one after).</summary>
    public long Lost
    {
        get { lock (_gate) return _lost; }
    }

    public MetricsWriterState State => _state;

    /// <summary>Why writing failed — the file, the error, and the step of its last whole line — or null.</summary>
    public string? Failure
    {
        get { lock (_gate) return _failure; }
    }

    /// <summary>
    /// Queues one line: the values a trainer reports at one step. Non-finite values are left out. While the writer waits
    /// for space it blocks here, so the loop pauses, until space returns or the wait is given up; after a failure the
    /// line is counted as lost.
    /// </summary>
    public void Write(long step, int? epoch, string? phase, ReadOnlySpan<(string Name, double Value)> metrics)
    {
        var wall = _options.Time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0;
        lock (_gate)
        {
            while (_state == MetricsWriterState.WaitingForSpace && !_closing && !_options.GiveUp.IsCancellationRequested) Monitor.Wait(_gate);
            if (_closing) throw new ObjectDisposedException(nameof(MetricsWriter));
            if (_state == MetricsWriterState.Failed)
            {
                _lost++;
                return;
            }
            var batch = _filling;
            if (batch.Values.Count + metrics.Length > MaxQueuedValues)
            {
                _dropped += metrics.Length;
                return;
            }
            batch.Records.Add((step, epoch, phase, wall, batch.Values.Count, metrics.Length));
            foreach (var (name, value) in metrics)
            {
                batch.Names.Add(name);
                batch.Values.Add(value);
            }
            _enqueued++;
        }
    }

    /// <summary>
    /// Waits until every line written so far is in the file (while the writer waits for space: until space returns or
    /// the wait is given up). After <see cref="Dispose"/>, it only says whether writing failed.
    /// </summary>
    /// <exception cref="IOException">Writing failed; the message is <see cref="Failure"/>.</exception>
    public void Flush()
    {
        lock (_gate)
        {
            var target = _enqueued;
            if (!_closing) _wake.Set();
            while (_done < target && _failure is null && _thread.IsAlive) Monitor.Wait(_gate);
            if (_failure is not null) throw new IOException(_failure, _error);
        }
    }

    private void Drain()
    {
        var json = new JsonWriterOptions { SkipValidation = true };
        while (true)
        {
            if (!_closing) _wake.Wait(_state == MetricsWriterState.WaitingForSpace ? _options.RetryInterval : _options.FlushInterval);
            _wake.Reset();
            var closing = _closing;
            Batch? batch = null;
            lock (_gate)
            {
                // While the disk is full the queue stays where it is, so its bound (and Write's wait) holds.
                if (_state != MetricsWriterState.WaitingForSpace) (_filling, _draining, batch) = (_draining, _filling, _filling);
            }
            if (batch is { Records.Count: > 0 })
            {
                if (_state == MetricsWriterState.Failed) Lose(batch.Records.Count);
                else Serialize(batch, json);
                batch.Clear();
            }
            if (_pendingLines > 0) WritePending(closing);
            lock (_gate)
            {
                Monitor.PulseAll(_gate);
                if (closing && _filling.Records.Count == 0 && _pendingLines == 0) return;
            }
        }
    }

    private void Serialize(Batch batch, JsonWriterOptions options)
    {
        foreach (var r in batch.Records)
        {
            using (var w = new Utf8JsonWriter(_pending, options))
            {
                w.WriteStartObject();
                w.WriteNumber("step", r.Step);
                if (r.Epoch is null) w.WriteNull("epoch"); else w.WriteNumber("epoch", r.Epoch.Value);
                if (r.Phase is null) w.WriteNull("phase"); else w.WriteString("phase", r.Phase);
                w.WriteNumber("wall_time", r.Wall);
                w.WriteStartObject("metrics");
                for (var i = r.Start; i < r.Start + r.Count; i++)
                {
                    var v = batch.Values[i];
                    if (double.IsFinite(v)) w.WriteNumber(batch.Names[i], v);
                }
                w.WriteEndObject();
                w.WriteEndObject();
            }
            _pending.Write("\n"u8);
            _pendingLastStep = r.Step;
        }
        _pendingLines += batch.Records.Count;
    }

    private void WritePending(bool closing)
    {
        try
        {
            RandomAccess.Write(_file, _pending.WrittenSpan, _end);
        }
        catch (Exception ex)
        {
            TakeBack();
            if (DiskFull.Is(ex) && !closing && !_options.GiveUp.IsCancellationRequested && _options.WaitForSpace())
            {
                if (_state != MetricsWriterState.WaitingForSpace)
                {
                    lock (_gate) _state = MetricsWriterState.WaitingForSpace;
                    Tell(MetricsWriterState.WaitingForSpace,
                        $"{System.IO.Path.GetFileName(Path)}: {ex.Message}; waiting for space (trying again every {_options.RetryInterval.TotalSeconds:0.###} s), and training waits too");
                }
                return;
            }
            Fail(ex);
            return;
        }
        _end += _pending.WrittenCount;
        _pending.Clear();
        var resumed = false;
        lock (_gate)
        {
            _done += _pendingLines;
            _lastStep = _pendingLastStep;
            if (_state == MetricsWriterState.WaitingForSpace)
            {
                _state = MetricsWriterState.Writing;
                resumed = true;
            }
            Monitor.PulseAll(_gate);
        }
        _pendingLines = 0;
        if (resumed) Tell(MetricsWriterState.Writing, $"{System.IO.Path.GetFileName(Path)}: space returned; writing again");
    }

    /// <summary>Cuts off what a failed write left after the last whole line (a write cut short by a full disk).</summary>
    private void TakeBack()
    {
        try { RandomAccess.SetLength(_file, _end); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { /* then nothing was written, or the next opening cuts it */ }
    }

    private void Fail(Exception ex)
    {
        long? lastStep;
        lock (_gate) lastStep = _lastStep;
        var last = lastStep is { } s ? $"its last whole line is step {s}" : "it has no line of this run";
        var failure = $"{System.IO.Path.GetFileName(Path)}: {ex.Message}; {last}, and nothing more is written to it";
        // Told before anyone waiting on the writer learns of it: whoever listens hears it first.
        Tell(MetricsWriterState.Failed, failure);
        lock (_gate)
        {
            _failure = failure;
            _error = ex;
            _state = MetricsWriterState.Failed;
            _lost += _pendingLines;
            _done += _pendingLines;
            Monitor.PulseAll(_gate);
        }
        _pending.Clear();
        _pendingLines = 0;
    }

    private void Lose(int lines)
    {
        lock (_gate)
        {
            _lost += lines;
            _done += lines;
        }
    }

    private void Tell(MetricsWriterState state, string message)
    {
        try
        {
            _options.StateChanged?.Invoke(state, message);
        }
        catch (Exception)
        {
            // The listener's fault must not end the writer: the state is still there to read.
        }
    }

    /// <summary>Writes what is queued and closes the file (a writer still waiting for space gives up).</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_closing) return;
            _closing = true;
            Monitor.PulseAll(_gate);
        }
        _wake.Set();
        _thread.Join();
        _giveUp.Dispose();
        _file.Dispose();
        _wake.Dispose();
    }
}
