using Kiln.Experiments.Pipeline;

namespace Kiln.Experiments.Runs;

/// <summary>
/// The run's log: to the console (errors always; info unless <c>--quiet</c>; debug with <c>-v</c>) and, unless
/// <c>--no-log</c> or dry, to <c>.kiln/logs/{reference}.log</c> as whole lines.
/// </summary>
public sealed class RunLog : IDisposable
{
    private readonly StreamWriter? _file;
    private readonly bool _quiet;
    private readonly bool _verbose;
    private readonly List<string> _lines = [];

    public RunLog(string? path, bool quiet, bool verbose)
    {
        _quiet = quiet;
        _verbose = verbose;
        Path = path;
        if (path is not null)
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
            _file = new StreamWriter(path, append: true) { AutoFlush = true };
        }
    }

    public string? Path { get; }

    /// <summary>Every line written, for the report's log.</summary>
    public IReadOnlyList<string> Lines => _lines;

    public void Write(LogLevel level, string message)
    {
        if (level == LogLevel.Debug && !_verbose) return;
        var line = $"{DateTime.Now:HH:mm:ss} {level.ToString().ToUpperInvariant(),-7} {message}";
        lock (_lines)
        {
            _lines.Add(line);
            _file?.WriteLine(line);
        }
        if (level >= LogLevel.Warning) Console.Error.WriteLine($"kiln: {(level == LogLevel.Error ? "error" : "warning")}: {message}");
        else if (!_quiet) Console.Out.WriteLine(message);
    }

    public void Dispose() => _file?.Dispose();
}
