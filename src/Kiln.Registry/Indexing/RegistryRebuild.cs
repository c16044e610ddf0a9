using System.Diagnostics;
using System.Globalization;
using Kiln.Registry.Records;
using Kiln.Registry.Store;
using Kiln.Registry.Workspace;
using Kiln.Runs;
using Microsoft.Data.Sqlite;

namespace Kiln.Registry.Indexing;

/// <summary>What a rebuild found and did.</summary>
/// <param name="Runs">Run directories recorded.</param>
/// <param name="Models">Of those, trained models (an architecture and weights).</param>
/// <param name="Trialled">Of the models, those with a trial result.</param>
/// <param name="Problems">Files that could not be read (their runs are recorded all the same).</param>
/// <param name="SetAside">Where the damaged registry was moved, when it was damaged.</param>
public sealed record RebuildReport(int Runs, int Models, int Trialled, IReadOnlyList<string> Problems, string? SetAside, TimeSpan Elapsed)
{
    /// <summary>Experiment runs recorded (from their reports' and full stores' <c>run_info.json</c>).</summary>
    public int ExperimentRuns { get; init; }
}

/// <summary>
/// Recreates <c>.kiln/registry.db</c> from the run folders, which are the truth it indexes: every run directory below
/// the workspace root (<see cref="RunDirectories.Walk"/>) is read (<see cref="RunIndexer"/>) into a new database beside
/// the old one, which then replaces it in one rename, so a reader sees the old registry or the new one, never half of
/// either. Experiment runs come back from their <c>run_info.json</c> files. A damaged registry is not deleted but set aside as <c>registry.db.corrupt-&lt;time&gt;</c>.
/// Records written by other processes while the rebuild runs are lost with the old file: rebuild when nothing trains.
/// </summary>
public static class RegistryRebuild
{
    public static RebuildReport Run(WorkspacePaths workspace, TimeProvider? time = null)
    {
        var clock = Stopwatch.StartNew();
        var problems = new List<string>();
        var records = Read(workspace, problems, time);
        var experiments = ReadExperimentRuns(workspace, problems);

        Directory.CreateDirectory(workspace.State);
        var fresh = workspace.Registry + $".rebuild-{Environment.ProcessId}";
        DeleteDatabase(fresh);
        try
        {
            using (var db = RegistryDb.Open(fresh))
            {
                db.UpsertAll(records);
                foreach (var run in experiments) db.UpdateExperimentRun(run);
            }
            var setAside = Retire(workspace.Registry, time ?? TimeProvider.System);
            File.Move(fresh, workspace.Registry, overwrite: true);
            var models = records.Where(r => r.IsModel).ToList();
            return new RebuildReport(records.Count, models.Count, models.Count(m => m.IsTrialled), problems, setAside, clock.Elapsed) { ExperimentRuns = experiments.Count };
        }
        finally
        {
            DeleteDatabase(fresh);
        }
    }

    /// <summary>Every run below the root, with unique ids: runs in <c>runs/</c> claim theirs first.</summary>
    private static List<RunRecord> Read(WorkspacePaths workspace, List<string> problems, TimeProvider? time)
    {
        var dirs = RunDirectories.Walk(workspace.Root)
            .OrderBy(d => d.Key.StartsWith("runs/", StringComparison.Ordinal) ? 0 : d.Key.StartsWith("out/log/", StringComparison.Ordinal) ? 1 : 2)
            .ThenBy(d => d.Key, StringComparer.Ordinal);
        var records = new List<RunRecord>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (_, dir) in dirs)
        {
            if (RunIndexer.Read(workspace, dir, problems, time) is not { } record) continue;
            if (!ids.Add(record.Id))
            {
                record = record with { Id = RunIds.Fallback(workspace, dir) };
                ids.Add(record.Id);
            }
            records.Add(record);
        }
        return records;
    }

    /// <summary>
    /// Every <c>kiln experiment</c> run, from <c>reports/*/run_info.json</c> and <c>.kiln/stores/*/run_info.json</c> (a run
    /// with <c>--no-report</c> and <c>--store-full</c> has only the latter); a reference found in both is read once.
    /// </summary>
    private static List<ExperimentRunRecord> ReadExperimentRuns(WorkspacePaths workspace, List<string> problems)
    {
        var runs = new Dictionary<string, ExperimentRunRecord>(StringComparer.Ordinal);
        foreach (var folder in new[] { workspace.Reports, workspace.Stores }.Where(Directory.Exists))
        {
            foreach (var file in Directory.GetDirectories(folder).Order(StringComparer.Ordinal).Select(d => Path.Combine(d, "run_info.json")).Where(File.Exists))
            {
                try
                {
                    if (System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllBytes(file)) is System.Text.Json.Nodes.JsonObject o && ExperimentRunRecord.FromJson(o) is { } run)
                        runs.TryAdd(run.Reference, run);
                    else
                        problems.Add($"{Path.GetRelativePath(workspace.Root, file)}: not an experiment run's record");
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
                {
                    problems.Add($"{Path.GetRelativePath(workspace.Root, file)}: {ex.Message}");
                }
            }
        }
        return [.. runs.Values];
    }

    /// <summary>
    /// Makes way for the new registry: a sound one is closed cleanly (its write-ahead log folded in and removed, so it
    /// cannot be replayed onto the new file); a damaged one is moved aside with its log. Returns where it went, if moved.
    /// </summary>
    private static string? Retire(string path, TimeProvider time)
    {
        if (!File.Exists(path))
        {
            DeleteSidecars(path);
            return null;
        }
        if (IsSound(path))
        {
            DeleteSidecars(path);
            return null;
        }
        var aside = $"{path}.corrupt-{time.GetUtcNow().ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}";
        File.Move(path, aside, overwrite: true);
        foreach (var suffix in Sidecars)
        {
            if (File.Exists(path + suffix)) File.Move(path + suffix, aside + suffix, overwrite: true);
        }
        return aside;
    }

    private static readonly string[] Sidecars = ["-wal", "-shm"];

    /// <summary>Whether the file is an SQLite database that passes a quick check; its log is checkpointed on the way.</summary>
    private static bool IsSound(string path)
    {
        try
        {
            using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, Mode = SqliteOpenMode.ReadWrite }.ToString());
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA quick_check(1)";
            if (command.ExecuteScalar() as string != "ok") return false;
            command.CommandText = "PRAGMA wal_checkpoint(TRUNCATE)";
            command.ExecuteNonQuery();
            return true;
        }
        catch (SqliteException ex) when (RegistryDb.IsDamage(ex))
        {
            return false;
        }
        catch (SqliteException ex)
        {
            throw RegistryDb.Explain(path, ex);
        }
    }

    private static void DeleteSidecars(string path)
    {
        foreach (var suffix in Sidecars) File.Delete(path + suffix);
    }

    private static void DeleteDatabase(string path)
    {
        File.Delete(path);
        DeleteSidecars(path);
    }
}
