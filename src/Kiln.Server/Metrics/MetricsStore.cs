using System.Buffers.Text;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Server.Metrics;

/// <summary>One metric's points in the order they were written.</summary>
public sealed class MetricSeries
{
    private long[] _steps = new long[256];
    private double[] _values = new double[256];

    public int Count { get; private set; }
    public ReadOnlySpan<long> Steps => _steps.AsSpan(0, Count);
    public ReadOnlySpan<double> Values => _values.AsSpan(0, Count);

    /// <summary>Whether steps never decrease (then ranges are found by binary search).</summary>
    public bool Ordered { get; private set; } = true;

    /// <summary>
    /// Appends another series' points (a later part of the same file) in one copy, making room for
    /// <paramref name="expectedMore"/> points beyond them at once: fresh memory is costly to touch, so a large read
    /// grows each column once instead of doubling it again and again.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void AddRange(MetricSeries other, long expectedMore = 0)
    {
        var n = other.Count;
        if (n == 0) return;
        if (Count + n > _steps.Length)
        {
            var capacity = (int)Math.Min(Array.MaxLength, Math.Max(Count + n + expectedMore, _steps.Length * 2L));
            Array.Resize(ref _steps, capacity);
            Array.Resize(ref _values, capacity);
        }
        if (!other.Ordered || (Count > 0 && other._steps[0] < _steps[Count - 1])) Ordered = false;
        other.Steps.CopyTo(_steps.AsSpan(Count));
        other.Values.CopyTo(_values.AsSpan(Count));
        Count += n;
    }

    /// <summary>The memory its columns hold.</summary>
    internal long Bytes => (long)_steps.Length * (sizeof(long) + sizeof(double));

    /// <summary>Forgets the points but keeps the memory, for the next part of a large read.</summary>
    internal void Reset()
    {
        Count = 0;
        Ordered = true;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void Add(long step, double value)
    {
        if (Count == _steps.Length)
        {
            Array.Resize(ref _steps, Count * 2);
            Array.Resize(ref _values, Count * 2);
        }
        if (Count > 0 && step < _steps[Count - 1]) Ordered = false;
        _steps[Count] = step;
        _values[Count] = value;
        Count++;
    }
}

/// <summary>
/// A run's metrics, parsed from <c>kiln.metrics.jsonl</c> into one column per metric and kept up to date by reading
/// only what was appended since the last look. Lines are scanned without building JSON trees, and a large read is
/// split across the cores and merged in file order, so a file of a million lines is ready in a fraction of a second.
/// </summary>
/// <remarks>The parsing methods are compiled fully optimized at once: a file is read once, over millions of lines, and
/// waiting for tiered compilation to promote the loops would double the time of that first read.</remarks>
public sealed class RunMetrics
{
    private const int LinesPerPart = 8192;
    private readonly MetricLineParser _parser = new();
    private readonly JsonlTail _tail;
    private readonly List<JsonlLine> _lines = [];
    private MetricLineParser[]? _parts;

    public RunMetrics(string path) => _tail = new JsonlTail(path);

    /// <summary>Bytes of the file read so far: where live updates continue from.</summary>
    public long Offset => _tail.Offset;

    public long Lines { get; private set; }

    public IReadOnlyDictionary<string, MetricSeries> Series => _parser.Series;

    /// <summary>Lines read by the fast path (the rest went through the full JSON reader).</summary>
    internal long CanonicalLines => _parser.CanonicalLines;

    /// <summary>Reads what was appended; returns the number of new lines.</summary>
    public int Refresh()
    {
        var added = 0;
        while (_tail.Poll(_lines, 4 << 20) > 0)
        {
            if (_tail.Restarted)
            {
                _parser.Clear();
                Lines = 0;
            }
            var parts = Math.Min(Environment.ProcessorCount, _lines.Count / LinesPerPart);
            added += parts < 2 ? Parse(_parser, 0, _lines.Count) : ParseInParts(parts);
        }
        Lines += added;
        Ready = true;
        if (added >= LinesPerPart)
        {
            // A large read is done: what it needed to read in parts is not kept for the small appends that follow.
            _parts = null;
            _lines.Clear();
            _lines.TrimExcess();
            _tail.TrimBuffer();
        }
        Bytes = _parser.Series.Values.Sum(s => s.Bytes);
        return added;
    }

    /// <summary>About how much memory the run's columns hold (as of the last refresh).</summary>
    public long Bytes { get; private set; }

    /// <summary>Whether the file has been read whole at least once (a large first read takes a while).</summary>
    public bool Ready { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int Parse(MetricLineParser parser, int from, int to)
    {
        var added = 0;
        for (var i = from; i < to; i++)
        {
            var line = _lines[i];
            if (!line.Oversized && parser.Parse(line.Bytes.Span)) added++;
        }
        return added;
    }

    /// <summary>
    /// Each part parses its own lines into its own columns; the columns are then appended in file order. The parts'
    /// parsers and their columns are kept for the next chunk of the same read, and the run's columns are sized for the
    /// whole file from what this chunk held.
    /// </summary>
    private int ParseInParts(int parts)
    {
        if (_parts is null || _parts.Length != parts)
        {
            _parts = new MetricLineParser[parts];
            for (var p = 0; p < parts; p++) _parts[p] = new MetricLineParser();
        }
        var parsers = _parts;
        var added = new int[parts];
        var size = (_lines.Count + parts - 1) / parts;
        Parallel.For(0, parts, p =>
        {
            parsers[p].Reset();
            added[p] = Parse(parsers[p], p * size, Math.Min(_lines.Count, (p + 1) * size));
        });
        var first = _lines[0];
        var last = _lines[^1];
        var chunkBytes = Math.Max(1, last.Offset + last.Length + 1 - first.Offset);
        var chunksLeft = _tail.PendingBytes / (double)chunkBytes;
        foreach (var part in parsers)
        {
            _parser.CanonicalLines += part.CanonicalLines;
            foreach (var (name, series) in part.Series)
            {
                if (!_parser.Series.TryGetValue(name, out var into)) _parser.Series[name] = into = new MetricSeries();
                // This chunk's share of the metric, times what is left of the file, and a little room for live appends.
                into.AddRange(series, (long)(series.Count * parts * (chunksLeft * 1.02)) + 4096);
            }
        }
        return added.Sum();
    }
}

/// <summary>Reads metric lines into one column per metric.</summary>
internal sealed class MetricLineParser
{
    private readonly Dictionary<string, string> _names = new(StringComparer.Ordinal);
    private readonly List<(int Slot, double Value)> _pending = [];
    private (byte[]? Bytes, string Name, MetricSeries? Series)[] _slots = new (byte[]?, string, MetricSeries?)[8];

    public Dictionary<string, MetricSeries> Series { get; } = new(StringComparer.Ordinal);

    /// <summary>Forgets every series (the file was replaced).</summary>
    public void Clear()
    {
        Series.Clear();
        Array.Clear(_slots);
    }

    /// <summary>Empties every series but keeps their memory and the names seen (the next part of a large read).</summary>
    public void Reset()
    {
        foreach (var series in Series.Values) series.Reset();
        CanonicalLines = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool Parse(ReadOnlySpan<byte> json)
    {
        if (ParseCanonical(json))
        {
            CanonicalLines++;
            return true;
        }
        return ParseAny(json);
    }

    /// <summary>Lines read by the fast path (the rest went through the full JSON reader).</summary>
    public long CanonicalLines { get; set; }


    /// <summary>
    /// The fast path, for lines as <see cref="Kiln.Metrics.MetricsWriter"/> writes them: <c>{"step":N,…,"metrics":{"name":number,…}}</c>
    /// with plain names and numbers, metrics last. Anything else (escapes, nested values, another key order) returns
    /// false having added nothing, and the line goes through the full JSON reader.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private bool ParseCanonical(ReadOnlySpan<byte> line)
    {
        if (!line.StartsWith("{\"step\":"u8)) return false;
        var rest = line[8..];
        if (!Utf8Parser.TryParse(rest, out long step, out var used) || used == 0) return false;
        rest = rest[used..];
        var at = rest.IndexOf("\"metrics\":{"u8);
        if (at < 0 || rest[..at].IndexOf((byte)'\\') >= 0) return false;
        rest = rest[(at + 11)..];
        _pending.Clear();
        if (rest.Length > 0 && rest[0] == (byte)'}')
        {
            rest = rest[1..];
        }
        else
        {
            for (var slot = 0; ; slot++)
            {
                if (rest.Length == 0 || rest[0] != (byte)'"') return false;
                var end = rest[1..].IndexOfAny((byte)'"', (byte)'\\');
                if (end < 0 || rest[1 + end] != (byte)'"') return false;
                var nameBytes = rest.Slice(1, end);
                rest = rest[(end + 2)..];
                if (rest.Length == 0 || rest[0] != (byte)':') return false;
                rest = rest[1..];
                if (rest.Length == 0 || !(rest[0] == (byte)'-' || (uint)(rest[0] - '0') <= 9)) return false;
                if (!Utf8Parser.TryParse(rest, out double value, out used) || used == 0) return false;
                rest = rest[used..];
                _pending.Add((Slot(slot, nameBytes), value));
                if (rest.Length == 0) return false;
                if (rest[0] == (byte)',') { rest = rest[1..]; continue; }
                if (rest[0] == (byte)'}') { rest = rest[1..]; break; }
                return false;
            }
        }
        if (rest.Length != 1 || rest[0] != (byte)'}') return false;
        foreach (var (slot, value) in _pending)
        {
            if (!double.IsFinite(value)) continue;
            var series = _slots[slot].Series;
            if (series is null)
            {
                var name = _slots[slot].Name;
                if (!Series.TryGetValue(name, out series)) Series[name] = series = new MetricSeries();
                _slots[slot].Series = series;
            }
            series.Add(step, value);
        }
        return true;
    }

    /// <summary>A line's metrics come in the same order line after line: the n-th name is matched by its bytes against
    /// the n-th name of the line before, and only a new name is decoded and looked up.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int Slot(int slot, ReadOnlySpan<byte> nameBytes)
    {
        if (slot >= _slots.Length) Array.Resize(ref _slots, Math.Max(slot + 1, _slots.Length * 2));
        ref var cached = ref _slots[slot];
        if (cached.Bytes is null || !nameBytes.SequenceEqual(cached.Bytes))
        {
            var name = Encoding.UTF8.GetString(nameBytes);
            cached = (nameBytes.ToArray(), _names.TryGetValue(name, out var known) ? known : _names[name] = name, Series.GetValueOrDefault(name));
        }
        return slot;
    }

    private bool ParseAny(ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return false;
            long step = 0;
            var hasStep = false;
            var metricsStart = -1L;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("step"u8))
                {
                    reader.Read();
                    hasStep = reader.TryGetInt64(out step);
                }
                else if (reader.ValueTextEquals("metrics"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.StartObject) return false;
                    metricsStart = reader.TokenStartIndex;
                    reader.Skip();
                }
                else
                {
                    reader.Read();
                    if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray) reader.Skip();
                }
            }
            if (!hasStep || metricsStart < 0) return false;
            // "metrics" may come before "step" in a hand-written file, so its values are read once the step is known.
            var values = new Utf8JsonReader(json[(int)metricsStart..]);
            values.Read();
            while (values.Read() && values.TokenType == JsonTokenType.PropertyName)
            {
                var name = Name(ref values);
                values.Read();
                if (values.TokenType == JsonTokenType.Number && values.TryGetDouble(out var v) && double.IsFinite(v))
                {
                    if (!Series.TryGetValue(name, out var series)) Series[name] = series = new MetricSeries();
                    series.Add(step, v);
                }
                else if (values.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    values.Skip();
                }
            }
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    // Metric names repeat on every line: intern them instead of allocating a string per value.
    private string Name(ref Utf8JsonReader reader)
    {
        Span<char> buffer = stackalloc char[128];
        if (!reader.ValueIsEscaped && reader.ValueSpan.Length <= buffer.Length)
        {
            var n = Encoding.UTF8.GetChars(reader.ValueSpan, buffer);
            var lookup = _names.GetAlternateLookup<ReadOnlySpan<char>>();
            if (lookup.TryGetValue(buffer[..n], out var known)) return known;
            var s = new string(buffer[..n]);
            _names[s] = s;
            return s;
        }
        return reader.GetString()!;
    }
}

/// <summary>What a reader sees of a run's metrics: every series read whole, or those of a preview (<see cref="Partial"/>,
/// with <see cref="Lines"/> unknown).</summary>
internal readonly record struct MetricsView(IReadOnlyDictionary<string, MetricSeries> Series, long Offset, long? Lines, bool Partial);

/// <summary>The parsed metrics of recently viewed runs, kept current.</summary>
public sealed class MetricsStore
{
    private readonly Dictionary<string, RunMetrics> _runs = new(StringComparer.Ordinal);
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
        lock (_runs) return _runs.TryGetValue(runDir, out var metrics) && metrics.Ready;
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

    private RunMetrics? GetOrPreview(string runDir, out MetricsPreview? preview)
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
    public RunMetrics Get(string runDir)
    {
        RunMetrics metrics;
        lock (_runs)
        {
            if (!_runs.TryGetValue(runDir, out metrics!))
            {
                metrics = new RunMetrics(Path.Combine(runDir, RunFiles.Metrics));
                _runs[runDir] = metrics;
                if (_runs.Count > _capacity)
                {
                    _runs.Remove(_recent.Last!.Value);
                    _recent.RemoveLast();
                }
            }
            else
            {
                _recent.Remove(runDir);
            }
            _recent.AddFirst(runDir);
        }
        lock (metrics) metrics.Refresh();
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
                _runs.Remove(oldest.Value);
                _recent.RemoveLast();
            }
        }
    }
}
