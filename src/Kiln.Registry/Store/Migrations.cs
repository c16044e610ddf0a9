using Microsoft.Data.Sqlite;

namespace Kiln.Registry.Store;

/// <summary>
/// The registry's schema, one step per version: step <c>n</c> takes a database from <c>PRAGMA user_version</c> n to
/// n + 1, in a transaction of its own (a step that fails leaves the version where it was, with nothing half done).
/// A database newer than the steps this binary knows is refused rather than guessed at.
/// </summary>
public static class Migrations
{
    /// <summary>The steps, oldest first. Append only: a released step never changes.</summary>
    public static readonly IReadOnlyList<string> Steps =
    [
        // 1: the runs.
        """
        CREATE TABLE runs (
            id           TEXT NOT NULL PRIMARY KEY,
            kind         TEXT NOT NULL,
            dir          TEXT NOT NULL UNIQUE,
            status       TEXT NOT NULL,
            started      REAL,
            ended        REAL,
            host         TEXT,
            config       TEXT,
            params       TEXT NOT NULL DEFAULT '{}',
            swept        TEXT,
            metrics      TEXT,
            fingerprint  TEXT,
            summary      TEXT,
            weights      TEXT,
            trial_result TEXT,
            trialled_at  REAL,
            git_commit   TEXT,
            dirty        INTEGER,
            snapshot_ref TEXT,
            error        TEXT
        ) STRICT;
        CREATE INDEX runs_started ON runs (started DESC);
        CREATE INDEX runs_architecture ON runs (fingerprint, started DESC) WHERE fingerprint IS NOT NULL;
        CREATE INDEX runs_training ON runs (fingerprint, params) WHERE fingerprint IS NOT NULL;
        CREATE INDEX runs_kind ON runs (kind, started DESC);
        CREATE INDEX runs_status ON runs (status);
        """,
        // 2: experiment runs (kiln experiment, seed 004): numbered per experiment, in one transaction so that two
        // processes never take the same number (curifactory wrote store.json unlocked).
        """
        CREATE TABLE experiment_runs (
            reference    TEXT NOT NULL PRIMARY KEY,
            experiment   TEXT NOT NULL,
            run_number   INTEGER NOT NULL,
            started      REAL NOT NULL,
            ended        REAL,
            status       TEXT NOT NULL,
            params       TEXT NOT NULL DEFAULT '{}',
            git_commit   TEXT,
            dirty        INTEGER,
            snapshot_ref TEXT,
            cli          TEXT,
            host         TEXT,
            notes        TEXT,
            reproduce    TEXT,
            error        TEXT,
            full_store   TEXT,
            report       TEXT,
            UNIQUE (experiment, run_number)
        ) STRICT;
        CREATE INDEX experiment_runs_started ON experiment_runs (started DESC);
        """,
    ];

    public static int Latest => Steps.Count;

    /// <summary>The schema version of an open database.</summary>
    public static int Version(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA user_version";
        return Convert.ToInt32(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Brings the database at <paramref name="path"/> up to the last of <paramref name="steps"/>; returns the steps applied.
    /// Safe when several processes open the registry at once: each step re-reads the version inside its transaction.
    /// </summary>
    public static int Apply(SqliteConnection connection, string path, IReadOnlyList<string>? steps = null)
    {
        steps ??= Steps;
        var applied = 0;
        while (true)
        {
            var version = Version(connection);
            if (version > steps.Count) throw Newer(path, version, steps.Count);
            if (version == steps.Count) return applied;
            using var transaction = connection.BeginTransaction();
            // Another process may have taken this step while this one waited for the write lock.
            var now = Version(connection);
            if (now != version)
            {
                transaction.Rollback();
                continue;
            }
            using (var command = connection.CreateCommand())
            {
                command.Transaction = transaction;
                command.CommandText = steps[version] + $"\nPRAGMA user_version = {version + 1};";
                command.ExecuteNonQuery();
            }
            transaction.Commit();
            applied++;
        }
    }

    private static RegistryException Newer(string path, int version, int known) => new(
        $"{path}: the registry's schema is version {version}, and this kiln knows versions up to {known}: " +
        "use a newer kiln, or `kiln registry rebuild` to recreate it for this one from the run folders");
}
