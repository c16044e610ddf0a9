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
/// only what was appended since the last look. Lines are scanned with a forward-only reader (no JSON trees), so a
/// file of a million points is ready in a fraction of a second.
/// </summary>
public sealed class RunMetrics
{
    private readonly string _path;
    private readonly Dictionary<string, MetricSeries> _series = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _names = new(StringComparer.Ordinal);
    private readonly JsonlTail _tail;
    private readonly List<JsonlLine> _lines = [];

    public RunMetrics(string path)
    {
        _path = path;
        _tail = new JsonlTail(path);
    }

    /// <summary>Bytes of the file read so far: where live updates continue from.</summary>
    public long Offset => _tail.Offset;

    public long Lines { get; private set; }

    public IReadOnlyDictionary<string, MetricSeries> Series => _series;

    /// <summary>Reads what was appended; returns the number of new lines.</summary>
    public int Refresh()
    {
        var added = 0;
        while (_tail.Poll(_lines, 16 << 20) > 0)
        {
            if (_tail.Restarted) Reset();
            foreach (var line in _lines)
            {
                if (!line.Oversized && Parse(line.Bytes.Span)) added++;
            }
        }
        Lines += added;
        return added;
    }

    private void Reset()
    {
        _series.Clear();
        Lines = 0;
    }

    private bool Parse(ReadOnlySpan<byte> json)
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
                    if (!_series.TryGetValue(name, out var series)) _series[name] = series = new MetricSeries();
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

/// <summary>The parsed metrics of recently viewed runs, kept current.</summary>
public sealed class MetricsStore
{
    private readonly Dictionary<string, RunMetrics> _runs = new(StringComparer.Ordinal);
    private readonly LinkedList<string> _recent = new();
    private readonly int _capacity;

    public MetricsStore(int capacity = 64) => _capacity = capacity;

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
        return metrics;
    }
}
