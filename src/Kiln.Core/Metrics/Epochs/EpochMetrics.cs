using Kiln.Protocol;

namespace Kiln.Metrics.Epochs;

/// <summary>
/// The metrics of a run that reports only a batch log (seed 002's <c>batch_log.csv</c>, written by a trial's own
/// command): each epoch of each mode becomes a line of <c>kiln.metrics.jsonl</c> at step = epoch, its values named
/// <c>mode_column</c> (<c>val_loss</c>, <c>train_acc</c>), so the run charts and lists its metrics like any other.
/// </summary>
public static class EpochMetrics
{
    /// <summary>
    /// Writes the run's metrics file from its batch log when it has a batch log and no metrics of its own; returns the
    /// last value of each metric, or null when there was nothing to derive.
    /// </summary>
    /// <exception cref="ProtocolException">The batch log cannot be read as one.</exception>
    public static Dictionary<string, double>? Derive(string runDir)
    {
        var metricsPath = Path.Combine(runDir, RunFiles.Metrics);
        if (!File.Exists(Path.Combine(runDir, RunFiles.BatchLog))) return null;
        if (File.Exists(metricsPath) && new FileInfo(metricsPath).Length > 0) return null;
        var table = EpochLog.Ensure(runDir);
        var last = new Dictionary<string, double>(StringComparer.Ordinal);
        var partial = metricsPath + ".derived";
        File.Delete(partial);
        try
        {
            using var writer = new MetricsWriter(partial);
            var values = new List<(string, double)>(table.Columns.Length);
            foreach (var row in table.Rows)
            {
                values.Clear();
                for (var i = 0; i < table.Columns.Length; i++)
                {
                    if (row.Values[i] is not { } v || !double.IsFinite(v)) continue;
                    var name = $"{row.Mode}_{table.Columns[i]}";
                    values.Add((name, v));
                    last[name] = v;
                }
                if (values.Count > 0) writer.Write(row.Epoch, (int)row.Epoch, row.Mode, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(values));
            }
            // A file the writer could not finish (a full disk) never takes the metrics file's place.
            writer.Flush();
        }
        catch
        {
            File.Delete(partial);
            throw;
        }
        File.Move(partial, metricsPath, overwrite: true);
        return last;
    }
}
