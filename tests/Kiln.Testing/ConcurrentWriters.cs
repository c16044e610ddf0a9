using System.Collections.Concurrent;
using System.Globalization;

namespace Kiln.Testing;

/// <summary>
/// The many-writer probe: <c>writers</c> threads start at once and each appends <c>each</c> commands to a run's inbox
/// (whole lines, as <c>kiln set</c> does), while the caller's thread keeps the kernel going with <c>pump</c>. Every
/// command sets the loss's <c>cls_w</c> to a value of its own: writer <c>w</c>'s <c>i</c>-th command sets
/// <c>(w * each + i) / 100</c>, so 100 times the values written are 0, 1, …, writers × each − 1 (within the weight's
/// bounds while that is at most 10,000).
/// </summary>
public static class ConcurrentWriters
{
    /// <summary>Writes the commands and returns their cids; <paramref name="pump"/> runs until every writer is done, and once more.</summary>
    public static IReadOnlyList<string> Write(RunDir run, int writers, int each, Action pump)
    {
        var cids = new ConcurrentBag<string>();
        using var go = new ManualResetEventSlim();
        var threads = Enumerable.Range(0, writers).Select(w => new Thread(() =>
        {
            go.Wait();
            for (var i = 0; i < each; i++)
                cids.Add(run.Set("loss", "{\"cls_w\": " + ((w * each + i) / 100.0).ToString("R", CultureInfo.InvariantCulture) + "}"));
        })).ToList();
        threads.ForEach(t => t.Start());
        go.Set();
        while (threads.Any(t => t.IsAlive)) pump();
        threads.ForEach(t => t.Join());
        pump();
        return [.. cids];
    }
}
