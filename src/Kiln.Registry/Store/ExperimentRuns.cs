using System.Globalization;
using System.Text.Json.Nodes;
using Kiln.Registry.Records;
using Microsoft.Data.Sqlite;

namespace Kiln.Registry.Store;

/// <summary>The registry's experiment runs (<c>experiment_runs</c>, migration 2).</summary>
public sealed partial class RegistryDb
{
    /// <summary>
    /// Records a new run of <paramref name="experiment"/> with the next run number (one more than its last), taken and
    /// written in one write transaction so concurrent runs get distinct numbers; <paramref name="make"/> builds the record
    /// from the number.
    /// </summary>
    public ExperimentRunRecord BeginExperimentRun(string experiment, Func<int, ExperimentRunRecord> make)
    {
        ArgumentNullException.ThrowIfNull(make);
        return Guard(() =>
        {
            using var transaction = _connection.BeginTransaction(deferred: false);
            using var next = _connection.CreateCommand();
            next.Transaction = transaction;
            next.CommandText = "SELECT coalesce(max(run_number), 0) + 1 FROM experiment_runs WHERE experiment = @e";
            next.Parameters.AddWithValue("@e", experiment);
            var number = Convert.ToInt32(next.ExecuteScalar(), CultureInfo.InvariantCulture);
            var record = make(number);
            using var insert = _connection.CreateCommand();
            insert.Transaction = transaction;
            Write(insert, record, "INSERT");
            insert.ExecuteNonQuery();
            transaction.Commit();
            return record;
        });
    }

    /// <summary>Replaces a run's record (its status, end, error, report as the run goes on).</summary>
    public void UpdateExperimentRun(ExperimentRunRecord record) => Guard(() =>
    {
        using var command = _connection.CreateCommand();
        Write(command, record, "INSERT OR REPLACE");
        return command.ExecuteNonQuery();
    });

    /// <summary>Runs, newest first; of one experiment when given.</summary>
    public IReadOnlyList<ExperimentRunRecord> ExperimentRuns(string? experiment = null) => Guard(() =>
    {
        using var command = _connection.CreateCommand();
        command.CommandText = "SELECT reference, experiment, run_number, started, ended, status, params, git_commit, dirty, snapshot_ref, cli, host, notes, reproduce, error, full_store, report FROM experiment_runs"
            + (experiment is null ? "" : " WHERE experiment = @e") + " ORDER BY started DESC, run_number DESC";
        if (experiment is not null) command.Parameters.AddWithValue("@e", experiment);
        var list = new List<ExperimentRunRecord>();
        using var row = command.ExecuteReader();
        while (row.Read())
        {
            string? Text(int i) => row.IsDBNull(i) ? null : row.GetString(i);
            list.Add(new ExperimentRunRecord
            {
                Reference = row.GetString(0),
                Experiment = row.GetString(1),
                RunNumber = row.GetInt32(2),
                Started = row.GetDouble(3),
                Ended = row.IsDBNull(4) ? null : row.GetDouble(4),
                Status = row.GetString(5),
                Params = JsonNode.Parse(row.GetString(6)) as JsonObject ?? [],
                GitCommit = Text(7),
                Dirty = row.IsDBNull(8) ? null : row.GetInt64(8) != 0,
                SnapshotRef = Text(9),
                Cli = Text(10),
                Host = Text(11),
                Notes = Text(12),
                Reproduce = Text(13),
                Error = Text(14),
                FullStore = Text(15),
                Report = Text(16),
            });
        }
        return list;
    });

    private static void Write(SqliteCommand command, ExperimentRunRecord r, string verb)
    {
        command.CommandText = $"{verb} INTO experiment_runs (reference, experiment, run_number, started, ended, status, params, git_commit, dirty, snapshot_ref, cli, host, notes, reproduce, error, full_store, report) " +
            "VALUES (@reference, @experiment, @run_number, @started, @ended, @status, @params, @git_commit, @dirty, @snapshot_ref, @cli, @host, @notes, @reproduce, @error, @full_store, @report)";
        command.Parameters.AddWithValue("@reference", r.Reference);
        command.Parameters.AddWithValue("@experiment", r.Experiment);
        command.Parameters.AddWithValue("@run_number", r.RunNumber);
        command.Parameters.AddWithValue("@started", r.Started);
        command.Parameters.AddWithValue("@ended", (object?)r.Ended ?? DBNull.Value);
        command.Parameters.AddWithValue("@status", r.Status);
        command.Parameters.AddWithValue("@params", CanonicalJson.Of(r.Params));
        command.Parameters.AddWithValue("@git_commit", (object?)r.GitCommit ?? DBNull.Value);
        command.Parameters.AddWithValue("@dirty", r.Dirty is { } d ? (d ? 1 : 0) : DBNull.Value);
        command.Parameters.AddWithValue("@snapshot_ref", (object?)r.SnapshotRef ?? DBNull.Value);
        command.Parameters.AddWithValue("@cli", (object?)r.Cli ?? DBNull.Value);
        command.Parameters.AddWithValue("@host", (object?)r.Host ?? DBNull.Value);
        command.Parameters.AddWithValue("@notes", (object?)r.Notes ?? DBNull.Value);
        command.Parameters.AddWithValue("@reproduce", (object?)r.Reproduce ?? DBNull.Value);
        command.Parameters.AddWithValue("@error", (object?)r.Error ?? DBNull.Value);
        command.Parameters.AddWithValue("@full_store", (object?)r.FullStore ?? DBNull.Value);
        command.Parameters.AddWithValue("@report", (object?)r.Report ?? DBNull.Value);
    }
}
