using System.Buffers;
using System.Text.Json;

namespace Kiln.Metrics;

/// <summary>
/// Appends the trainer's metrics to <c>kiln.metrics.jsonl</c> without ever making the training loop wait for the
/// disk: <see cref="Write"/> copies the values into memory under a short lock, and a background thread turns them
/// into whole JSON lines every <c>flushInterval</c>. If the disk stalls for long, values past
/// <see cref="MaxQueuedValues"/> are dropped and counted (<see cref="Dropped"/>) rather than blocking the loop.
/// </summary>
public sealed class MetricsWriter : IDisposable
{
    /// <summary>Values held in memory at most while the disk is behind.</summary>
    public const int MaxQueuedValues = 4_000_000;

    private readonly object _gate = new();
    private readonly TimeProvider _time;
    private readonly TimeSpan _flushInterval;
    private readonly FileStream _file;
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _wake = new(false);
    private Batch _filling = new();
    private Batch _draining = new();
    private long _written;
    private long _enqueued;
    private long _dropped;
    private volatile bool _closing;
    private Exception? _failure;

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
    {
        _time = time ?? TimeProvider.System;
        _flushInterval = flushInterval ?? TimeSpan.FromMilliseconds(50);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        _file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
        Path = path;
        _thread = new Thread(Drain) { IsBackground = true, Name = "kiln-metrics" };
        _thread.Start();
    }

    public string Path { get; }

    /// <summary>Values dropped because the disk fell too far behind.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Queues one line: the values a trainer reports at one step. Non-finite values are left out.</summary>
    public void Write(long step, int? epoch, string? phase, ReadOnlySpan<(string Name, double Value)> metrics)
    {
        var wall = _time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0;
        lock (_gate)
        {
            if (_closing) throw new ObjectDisposedException(nameof(MetricsWriter));
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

    /// <summary>Waits until every line written so far is in the file.</summary>
    public void Flush()
    {
        long target;
        lock (_gate) target = _enqueued;
        _wake.Set();
        var spin = new SpinWait();
        while (Interlocked.Read(ref _written) < target)
        {
            if (_failure is { } f) throw new IOException($"{Path}: writing metrics failed: {f.Message}", f);
            if (!_thread.IsAlive) break;
            spin.SpinOnce();
        }
    }

    private void Drain()
    {
        var buffer = new ArrayBufferWriter<byte>(1 << 16);
        var options = new JsonWriterOptions { SkipValidation = true };
        while (true)
        {
            _wake.Wait(_flushInterval);
            _wake.Reset();
            var closing = _closing;
            lock (_gate) (_filling, _draining) = (_draining, _filling);
            var batch = _draining;
            if (batch.Records.Count > 0)
            {
                try
                {
                    buffer.Clear();
                    foreach (var r in batch.Records)
                    {
                        using (var w = new Utf8JsonWriter(buffer, options))
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
                        buffer.Write("\n"u8);
                    }
                    _file.Write(buffer.WrittenSpan);
                    _file.Flush();
                }
                catch (IOException ex)
                {
                    _failure = ex;
                }
                Interlocked.Add(ref _written, batch.Records.Count);
                batch.Clear();
            }
            if (closing)
            {
                lock (_gate)
                {
                    if (_filling.Records.Count == 0) return;
                }
            }
        }
    }

    /// <summary>Writes what is queued and closes the file.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_closing) return;
            _closing = true;
        }
        _wake.Set();
        _thread.Join();
        _file.Dispose();
        _wake.Dispose();
    }
}
