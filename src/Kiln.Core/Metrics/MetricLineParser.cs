using System.Buffers.Text;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace Kiln.Metrics;

/// <summary>
/// Reads lines of <c>kiln.metrics.jsonl</c> into one column per metric name. A line counts when it is a JSON object with
/// an integer <c>step</c> and a <c>metrics</c> object (in any key order); each of its metrics that is a finite number
/// becomes a point at that step, and other values (strings, nulls, nested objects or arrays) are passed over. A line
/// that is not such an object adds nothing.
/// </summary>
public sealed class MetricLineParser
{
    private readonly Dictionary<string, string> _names = new(StringComparer.Ordinal);
    private readonly List<(int Slot, double Value)> _pending = [];
    private (byte[]? Bytes, string Name, MetricSeries? Series)[] _slots = new (byte[]?, string, MetricSeries?)[8];

    /// <summary>The columns, by metric name.</summary>
    public IReadOnlyDictionary<string, MetricSeries> Series => Columns;

    internal Dictionary<string, MetricSeries> Columns { get; } = new(StringComparer.Ordinal);

    /// <summary>Forgets every series (the file was replaced).</summary>
    public void Clear()
    {
        Columns.Clear();
        Array.Clear(_slots);
    }

    /// <summary>Empties every series but keeps their memory and the names seen (the next part of a large read).</summary>
    internal void Reset()
    {
        foreach (var series in Columns.Values) series.Reset();
        CanonicalLines = 0;
    }

    /// <summary>Reads one line (without its newline); false when it is not a metrics line.</summary>
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
    internal long CanonicalLines { get; set; }

    /// <summary>
    /// The fast path, for lines as <see cref="MetricsWriter"/> writes them: <c>{"step":N,…,"metrics":{"name":number,…}}</c>
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
        if (rest.Length == 0 || rest[0] != (byte)',') return false; // 6.5 or 1e1 is not a step; the full reader says so
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
                if (!Columns.TryGetValue(name, out series)) Columns[name] = series = new MetricSeries();
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
            cached = (nameBytes.ToArray(), _names.TryGetValue(name, out var known) ? known : _names[name] = name, Columns.GetValueOrDefault(name));
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
                    hasStep = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out step);
                    if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray) reader.Skip();
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
                    if (!Columns.TryGetValue(name, out var series)) Columns[name] = series = new MetricSeries();
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
