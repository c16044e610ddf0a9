using System.Text.Json.Nodes;
using Kiln.Registry.Records;
using Kiln.Registry.Workspace;
using Microsoft.Data.Sqlite;

namespace Kiln.Registry.Store;

/// <summary>
/// The registry: <c>.kiln/registry.db</c>, an SQLite database indexing every run of the workspace, so that listing,
/// grouping and searching thousands of them is fast. The run folders stay the source of truth
/// (<see cref="Indexing.RegistryRebuild"/> recreates the database from them). Several processes may write at once:
/// the database is in WAL mode and a writer waits for another's transaction rather than failing. One instance is one
/// connection: use it from one thread at a time.
/// </summary>
public sealed partial class RegistryDb : IDisposable
{
    /// <summary>How long a statement waits for another process's write to finish before it fails.</summary>
    public static readonly TimeSpan BusyTimeout = TimeSpan.FromSeconds(30);

    private readonly SqliteConnection _connection;

    private RegistryDb(string path, SqliteConnection connection)
    {
        Path = path;
        _connection = connection;
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <summary>Opens the workspace's registry, creating it (and <c>.kiln/</c>) when absent, and brings its schema up to date.</summary>
    public static RegistryDb Open(WorkspacePaths workspace) => Open(workspace.Registry);

    /// <inheritdoc cref="Open(WorkspacePaths)"/>
    public static RegistryDb Open(string path) => Open(path, Migrations.Steps);

    /// <summary>Opens with the given schema steps (tests prove migrations with their own).</summary>
    internal static RegistryDb Open(string path, IReadOnlyList<string> steps)
    {
        path = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            // A closed registry must let go of its file at once: a rebuild replaces it.
            Pooling = false,
            DefaultTimeout = (int)BusyTimeout.TotalSeconds,
        }.ToString());
        try
        {
            connection.Open();
            Execute(connection, $"PRAGMA busy_timeout = {(int)BusyTimeout.TotalMilliseconds}");
            // WAL: readers never wait for the writer, writers wait for each other. NORMAL: a power cut may lose the last
            // transactions, never corrupt; the run folders hold the truth they came from.
            Execute(connection, "PRAGMA journal_mode = WAL");
            Execute(connection, "PRAGMA synchronous = NORMAL");
            Migrations.Apply(connection, path, steps);
            return new RegistryDb(path, connection);
        }
        catch (SqliteException ex)
        {
            connection.Dispose();
            throw Explain(path, ex);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>The schema version (<c>PRAGMA user_version</c>).</summary>
    public int Version => Guard(() => Migrations.Version(_connection));

    /// <summary>Records a run, or replaces its record. An id that already names another directory's run is refused.</summary>
    public void Upsert(RunRecord record) => Guard(() =>
    {
        using var command = RunRows.UpsertCommand(_connection, null);
        Upsert(command, record);
        return 0;
    });

    /// <summary>Records many runs in one transaction (all or none); returns how many.</summary>
    public int UpsertAll(IEnumerable<RunRecord> records) => Guard(() =>
    {
        using var transaction = _connection.BeginTransaction();
        using var command = RunRows.UpsertCommand(_connection, transaction);
        var count = 0;
        foreach (var record in records)
        {
            Upsert(command, record);
            count++;
        }
        transaction.Commit();
        return count;
    });

    private void Upsert(SqliteCommand command, RunRecord record)
    {
        RunRows.Bind(command, record);
        if (command.ExecuteNonQuery() == 0)
        {
            var other = Get(record.Id);
            throw new RegistryException($"{Path}: run id '{record.Id}' already names the run in {other?.Dir ?? "another directory"}, not {record.Dir}");
        }
    }

    public RunRecord? Get(string id) => Guard(() => Select("WHERE id = @id", ("@id", id)).FirstOrDefault());

    /// <summary>Forgets a run (its folder is untouched); false when it was not recorded.</summary>
    public bool Delete(string id) => Guard(() =>
    {
        using var command = _connection.CreateCommand();
        command.CommandText = "DELETE FROM runs WHERE id = @id";
        command.Parameters.AddWithValue("@id", id);
        return command.ExecuteNonQuery() > 0;
    });

    /// <summary>
    /// Earlier trainings of this architecture with these hyper-parameters (trained models: weights saved), newest
    /// first: what <c>kiln train</c> asks about before training the same thing again.
    /// </summary>
    public IReadOnlyList<RunRecord> FindTrainings(string fingerprint, JsonObject? parameters) =>
        FindTrainings(fingerprint, CanonicalJson.Params(parameters));

    /// <inheritdoc cref="FindTrainings(string, JsonObject?)"/>
    /// <param name="fingerprint">The architecture.</param>
    /// <param name="canonicalParams">The hyper-parameters as JSON text (made canonical here, so any spelling matches).</param>
    public IReadOnlyList<RunRecord> FindTrainings(string fingerprint, string canonicalParams)
    {
        var parameters = CanonicalJson.Normalize(canonicalParams);
        return Guard(() => Select(
            "WHERE fingerprint = @f AND params = @p AND weights IS NOT NULL ORDER BY started DESC, id DESC",
            ("@f", fingerprint), ("@p", parameters)));
    }

    /// <summary>
    /// Sets the trial result of every trained model of this architecture with these hyper-parameters (numb's
    /// UpdateAll: models trained alike share their trial); returns how many were updated.
    /// </summary>
    /// <param name="at">Unix seconds of the result; now when null.</param>
    public int SetTrialResult(string fingerprint, string canonicalParams, JsonObject result, double? at = null)
    {
        var parameters = CanonicalJson.Normalize(canonicalParams);
        var when = at ?? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        return Guard(() =>
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "UPDATE runs SET trial_result = @r, trialled_at = @t WHERE fingerprint = @f AND params = @p AND weights IS NOT NULL";
            command.Parameters.AddWithValue("@r", CanonicalJson.Of(result));
            command.Parameters.AddWithValue("@t", when);
            command.Parameters.AddWithValue("@f", fingerprint);
            command.Parameters.AddWithValue("@p", parameters);
            return command.ExecuteNonQuery();
        });
    }

    /// <inheritdoc cref="SetTrialResult(string, string, JsonObject, double?)"/>
    public int SetTrialResult(string fingerprint, JsonObject? parameters, JsonObject result, double? at = null) =>
        SetTrialResult(fingerprint, CanonicalJson.Params(parameters), result, at);

    /// <summary>The trained models of this architecture without a trial result, newest first (<c>kiln trial --all</c>'s work list).</summary>
    public IReadOnlyList<RunRecord> Untrialled(string fingerprint) => Guard(() => Select(
        "WHERE fingerprint = @f AND weights IS NOT NULL AND trial_result IS NULL ORDER BY started DESC, id DESC", ("@f", fingerprint)));

    /// <summary>The runs <paramref name="query"/> selects, in its order and page.</summary>
    public IReadOnlyList<RunRecord> Query(ModelQuery query) => Guard(() =>
    {
        using var command = _connection.CreateCommand();
        QuerySql.Build(command, query, RunRows.Columns, order: true);
        return ReadAll(command);
    });

    /// <summary>The runs <paramref name="query"/> selects, in its order and page, as JSON made by the database.</summary>
    public IReadOnlyList<RunJson> QueryJson(ModelQuery query) => Guard(() =>
    {
        using var command = _connection.CreateCommand();
        QuerySql.Build(command, query, RunRows.JsonColumns, order: true);
        var list = new List<RunJson>();
        using var row = command.ExecuteReader();
        while (row.Read()) list.Add(RunRows.ReadJson(row));
        return list;
    });

    /// <summary>How many runs <paramref name="query"/> selects, paging aside.</summary>
    public int Count(ModelQuery query) => Guard(() =>
    {
        using var command = _connection.CreateCommand();
        QuerySql.Build(command, query, "count(*)", order: false);
        return Convert.ToInt32(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    });

    private List<RunRecord> Select(string clause, params (string Name, object Value)[] parameters)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = $"SELECT {RunRows.Columns} FROM runs {clause}";
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        return ReadAll(command);
    }

    private static List<RunRecord> ReadAll(SqliteCommand command)
    {
        var list = new List<RunRecord>();
        using var row = command.ExecuteReader();
        while (row.Read()) list.Add(RunRows.Read(row));
        return list;
    }

    private T Guard<T>(Func<T> action)
    {
        try
        {
            return action();
        }
        catch (SqliteException ex)
        {
            throw Explain(Path, ex);
        }
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    /// <summary>SQLITE_CORRUPT and SQLITE_NOTADB: the file is damaged, or was never a database.</summary>
    internal static bool IsDamage(SqliteException ex) => ex.SqliteErrorCode is 11 or 26;

    /// <summary>An SQLite failure as one line naming the file; a damaged file says how to recover.</summary>
    internal static RegistryException Explain(string path, SqliteException ex)
    {
        var why = ex.Message.Replace("SQLite Error ", "error ", StringComparison.Ordinal);
        return IsDamage(ex)
            ? new RegistryException($"{path}: the registry is damaged or is not an SQLite database ({why}); `kiln registry rebuild` recreates it from the run folders", ex)
            : new RegistryException($"{path}: {why}", ex);
    }

    public void Dispose() => _connection.Dispose();
}
