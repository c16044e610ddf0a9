using System.Runtime.CompilerServices;
using Kiln.IO;

namespace Kiln.Metrics;

/// <summary>
/// Follows a run's <c>kiln.metrics.jsonl</c> (as <see cref="MetricsWriter"/> or any trainer writes it): each
/// <see cref="Read"/> parses the complete lines appended since the last one into one column per metric name. A trailing
/// line without its newline is left for a later read (its writer may be half way through it); a file that shrank was
/// replaced, and is read again from the start. Lines are scanned without building JSON trees, and a large read is split
/// across the cores and merged in file order, so a file of a million lines is ready in a fraction of a second.
/// </summary>
/// <example>
/// An autopilot in another process following a run:
/// <code>
/// var reader = new MetricsReader(Path.Combine(runDir, RunFiles.Metrics));
/// while (running)
/// {
///     reader.Read();
///     if (reader.Series.TryGetValue("val_loss", out var loss) &amp;&amp; loss.Count > 0) Decide(loss.Steps[^1], loss.Values[^1]);
///     reader.Forget(); // the next read holds only what comes next
///     Thread.Sleep(1000);
/// }
/// </code>
/// </example>
/// <remarks>One thread at a time. The parsing methods are compiled fully optimized at once: a file is read once, over
/// millions of lines, and waiting for tiered compilation to promote the loops would double the time of that first read.</remarks>
public sealed class MetricsReader
{
    private const int LinesPerPart = 8192;
    private const int ChunkBytes = 4 << 20;
    private readonly MetricLineParser _parser = new();
    private readonly JsonlTail _tail;
    private readonly List<JsonlLine> _lines = [];
    private MetricLineParser[]? _parts;

    /// <param name="path">The metrics file; it need not exist yet.</param>
    /// <param name="startOffset">Where to start: 0, or an <see cref="Offset"/> a reader of this file reported (a line start).</param>
    public MetricsReader(string path, long startOffset = 0)
    {
        Path = path;
        _tail = new JsonlTail(path, startOffset: startOffset);
    }

    public string Path { get; }

    /// <summary>Bytes of the file read so far: where the next read continues from.</summary>
    public long Offset => _tail.Offset;

    /// <summary>Metric lines read so far (since the file was last replaced).</summary>
    public long Lines { get; private set; }

    /// <summary>One column per metric name: every point read (since the file was last replaced, or since <see cref="Forget"/>).</summary>
    public IReadOnlyDictionary<string, MetricSeries> Series => _parser.Series;

    /// <summary>Set by a read that found the file replaced or truncated: the columns started over.</summary>
    public bool Restarted { get; private set; }

    /// <summary>About how much memory the columns hold (as of the last read).</summary>
    public long Bytes { get; private set; }

    /// <summary>Lines read by the fast path (the rest went through the full JSON reader).</summary>
    internal long CanonicalLines => _parser.CanonicalLines;

    /// <summary>Reads the complete lines appended since the last read; returns how many were metric lines.</summary>
    public int Read()
    {
        var added = 0;
        Restarted = false;
        while (_tail.Poll(_lines, ChunkBytes) > 0)
        {
            if (_tail.Restarted)
            {
                _parser.Clear();
                Lines = 0;
                added = 0;
                Restarted = true;
            }
            var parts = Math.Min(Environment.ProcessorCount, _lines.Count / LinesPerPart);
            added += parts < 2 ? Parse(_parser, 0, _lines.Count) : ParseInParts(parts);
        }
        Lines += added;
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

    /// <summary>
    /// Empties the columns (keeping their memory and the place in the file): the next <see cref="Read"/> holds only what
    /// was appended after this one. For a follower that wants each new point once, with memory that does not grow.
    /// </summary>
    public void Forget() => _parser.Reset();

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
            foreach (var (name, series) in part.Columns)
            {
                if (!_parser.Columns.TryGetValue(name, out var into)) _parser.Columns[name] = into = new MetricSeries();
                // This chunk's share of the metric, times what is left of the file, and a little room for live appends.
                into.AddRange(series, (long)(series.Count * parts * (chunksLeft * 1.02)) + 4096);
            }
        }
        return added.Sum();
    }
}
