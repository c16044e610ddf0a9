using Kiln.Registry.Records;
using Microsoft.Data.Sqlite;

namespace Kiln.Registry.Store;

/// <summary>The columns of the <c>runs</c> table and their mapping to <see cref="RunRecord"/>.</summary>
internal static class RunRows
{
    /// <summary>Every column, in the order <see cref="Read"/> expects.</summary>
    public const string Columns =
        "id, kind, dir, status, started, ended, host, config, params, swept, metrics, fingerprint, summary, weights, " +
        "trial_result, trialled_at, git_commit, dirty, snapshot_ref, error";

    public static readonly string[] Names = Columns.Split(", ");

    /// <summary>The JSON object of a row, made by SQLite: the fields and names of <see cref="RunRecord.ToJson"/>, in its order.</summary>
    public const string JsonObject =
        "json_object('id', id, 'kind', kind, 'dir', dir, 'status', status, 'start', started, 'end', ended, 'host', host, " +
        "'config', config, 'params', json(params), 'swept', json(swept), 'metrics', json(metrics), 'fingerprint', fingerprint, " +
        "'architecture_summary', summary, 'weights', weights, 'trial_result', json(trial_result), 'trialled_at', trialled_at, " +
        "'git_commit', git_commit, 'dirty', CASE dirty WHEN 1 THEN json('true') WHEN 0 THEN json('false') END, " +
        "'snapshot_ref', snapshot_ref, 'error', error)";

    /// <summary>What <see cref="ReadJson"/> reads.</summary>
    public const string JsonColumns = "id, fingerprint, summary, started, " + JsonObject;

    public static RunJson ReadJson(SqliteDataReader row) =>
        new(row.GetString(0), Text(row, 1), Text(row, 2), Double(row, 3), row.GetString(4));

    public static string UpsertSql { get; } =
        $"INSERT INTO runs ({Columns}) VALUES ({string.Join(", ", Names.Select(n => "@" + n))}) " +
        $"ON CONFLICT (id) DO UPDATE SET {string.Join(", ", Names.Skip(1).Select(n => $"{n} = excluded.{n}"))} " +
        "WHERE runs.dir = excluded.dir";

    /// <summary>A command for <see cref="UpsertSql"/> with one parameter per column, to be filled by <see cref="Bind"/>.</summary>
    public static SqliteCommand UpsertCommand(SqliteConnection connection, SqliteTransaction? transaction)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = UpsertSql;
        foreach (var n in Names) command.Parameters.Add(new SqliteParameter("@" + n, null));
        return command;
    }

    public static void Bind(SqliteCommand command, RunRecord r)
    {
        var p = command.Parameters;
        p["@id"].Value = r.Id;
        p["@kind"].Value = r.Kind;
        p["@dir"].Value = r.Dir;
        p["@status"].Value = r.Status;
        p["@started"].Value = Db(r.Start);
        p["@ended"].Value = Db(r.End);
        p["@host"].Value = Db(r.Host);
        p["@config"].Value = Db(r.Config);
        p["@params"].Value = r.ParamsJson;
        p["@swept"].Value = Db(r.SweptJson);
        p["@metrics"].Value = Db(r.MetricsJson);
        p["@fingerprint"].Value = Db(r.Fingerprint);
        p["@summary"].Value = Db(r.ArchitectureSummary);
        p["@weights"].Value = Db(r.Weights);
        p["@trial_result"].Value = Db(r.TrialResultJson);
        p["@trialled_at"].Value = Db(r.TrialledAt);
        p["@git_commit"].Value = Db(r.GitCommit);
        p["@dirty"].Value = r.Dirty is { } d ? (d ? 1 : 0) : DBNull.Value;
        p["@snapshot_ref"].Value = Db(r.SnapshotRef);
        p["@error"].Value = Db(r.Error);
    }

    public static RunRecord Read(SqliteDataReader row) => new RunRecord
    {
        Id = row.GetString(0),
        Kind = row.GetString(1),
        Dir = row.GetString(2),
        Status = row.GetString(3),
        Start = Double(row, 4),
        End = Double(row, 5),
        Host = Text(row, 6),
        Config = Text(row, 7),
        Fingerprint = Text(row, 11),
        ArchitectureSummary = Text(row, 12),
        Weights = Text(row, 13),
        TrialledAt = Double(row, 15),
        GitCommit = Text(row, 16),
        Dirty = row.IsDBNull(17) ? null : row.GetInt64(17) != 0,
        SnapshotRef = Text(row, 18),
        Error = Text(row, 19),
    }.WithStoredJson(Text(row, 8), Text(row, 9), Text(row, 10), Text(row, 14));

    private static object Db(string? s) => s is null ? DBNull.Value : s;

    private static object Db(double? d) => d is { } v ? v : DBNull.Value;

    private static string? Text(SqliteDataReader row, int i) => row.IsDBNull(i) ? null : row.GetString(i);

    private static double? Double(SqliteDataReader row, int i) => row.IsDBNull(i) ? null : row.GetDouble(i);
}
