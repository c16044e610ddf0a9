using Kiln.Experiments.Caching;
using Kiln.Experiments.Pipeline;
using Kiln.Testing;

namespace Kiln.Experiments.Tests;

public sealed record P : ExperimentParams
{
    public int A { get; init; }
    public int B { get; init; }
}

/// <summary>A manager over a temporary cache, with its log kept for assertions.</summary>
internal sealed class Pipelines : IDisposable
{
    private readonly TempDir _dir = new("experiments");

    public string Cache => System.IO.Path.Combine(_dir.Path, "cache");
    public List<(LogLevel Level, string Message)> Log { get; } = [];

    public ExperimentManager Manager(Func<ExperimentOptions, ExperimentOptions>? change = null)
    {
        var options = new ExperimentOptions
        {
            ExperimentName = "test",
            CacheDirectory = Cache,
            Log = (l, m) => { lock (Log) Log.Add((l, m)); },
        };
        return new ExperimentManager(change is null ? options : change(options));
    }

    public IEnumerable<string> Warnings => Log.Where(l => l.Level == LogLevel.Warning).Select(l => l.Message);

    public string[] CacheFiles(string pattern = "*") =>
        Directory.Exists(Cache) ? Directory.GetFiles(Cache, pattern) : [];

    public void Dispose() => _dir.Dispose();
}
