using Kiln.IO;
using Kiln.Metrics;

namespace Kiln.Server.Metrics;

/// <summary>
/// A first look at a large metrics file while it is read whole: a few thousand of its lines taken at evenly spaced
/// byte offsets (the first and the last complete line always among them), parsed as the full read parses them.
/// Spikes between the sampled lines are missing until the whole file is read; answers built from it say
/// <c>partial</c>.
/// </summary>
/// <param name="FileLength">The file's length when it was sampled.</param>
/// <param name="Offset">The end of the last complete line sampled: where live updates continue from.</param>
/// <param name="Sampled">How many lines were parsed.</param>
internal sealed record MetricsPreview(long FileLength, long Offset, int Sampled, IReadOnlyDictionary<string, MetricSeries> Series)
{
    /// <summary>How many lines a preview samples at most.</summary>
    public const int Lines = 4000;

    /// <summary>About how many bytes of lines a preview parses: fewer lines are sampled when lines are long (thousands
    /// of metrics a line), so a preview stays small.</summary>
    private const int Budget = 4 << 20;

    /// <summary>A line longer than this is not sampled (it is read with the rest of the file).</summary>
    private const int MaxLineBytes = 1 << 20;

    public static MetricsPreview Read(string path, int lines = Lines)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var length = RandomAccess.GetLength(handle);
        var buffer = new byte[MaxLineBytes + 1];
        var end = JsonlTail.AfterLastNewline(handle, length);
        var lastStart = end > 0 ? JsonlTail.AfterLastNewline(handle, end - 1) : 0;
        // The last line's length stands for the others'.
        var typical = end > 0 ? end - lastStart : 256L;
        if (end > 0) lines = (int)Math.Clamp(Budget / Math.Max(1, typical), 16, lines);
        var parser = new MetricLineParser();
        var sampled = 0;
        var previousStart = -1L;
        var before = new byte[1];
        for (var i = 0; i <= lines && end > 0; i++)
        {
            // Sample i is the first line starting at or after i/lines of the file; the last is the final line.
            var at = i == lines ? lastStart : end * i / lines;
            var aligned = at == 0 || (RandomAccess.Read(handle, before, at - 1) == 1 && before[0] == (byte)'\n');
            // Read about two lines' worth; a longer line is read again whole, up to the limit.
            var line = ReadOnlySpan<byte>.Empty;
            var lineStart = -1L;
            for (var want = (int)Math.Min(end - at, Math.Min(buffer.Length, Math.Max(1024, 2 * typical + 2))); ; want = (int)Math.Min(end - at, buffer.Length))
            {
                var span = buffer.AsSpan(0, RandomAccess.Read(handle, buffer.AsSpan(0, want), at));
                var skip = aligned ? 0 : span.IndexOf((byte)'\n') + 1;
                var stop = skip > 0 || aligned ? span[skip..].IndexOf((byte)'\n') : -1;
                if (stop >= 0)
                {
                    line = span.Slice(skip, stop);
                    lineStart = at + skip;
                    break;
                }
                if (want >= Math.Min(end - at, buffer.Length)) break; // no whole line within the limit here
            }
            if (lineStart < 0 || lineStart == previousStart) continue; // two samples fell in one line
            previousStart = lineStart;
            if (line.Length > 0 && line[^1] == (byte)'\r') line = line[..^1];
            if (parser.Parse(line)) sampled++;
        }
        return new MetricsPreview(length, end, sampled, parser.Series);
    }
}
