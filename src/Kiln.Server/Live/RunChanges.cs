namespace Kiln.Server.Live;

/// <summary>What a <see cref="RunWatcher"/> saw change in a run directory since its last look.</summary>
[Flags]
internal enum RunChanges
{
    None = 0,

    /// <summary><c>kiln.metrics.jsonl</c> grew (or was replaced).</summary>
    Metrics = 1,

    /// <summary>The ledger grew.</summary>
    Ledger = 2,

    /// <summary><c>kiln.actuators.json</c> changed.</summary>
    Actuators = 4,

    /// <summary><c>kiln.run.json</c> changed, or the run's process was found gone (<see cref="RunWatcher.Interrupted"/>).</summary>
    Status = 8,
}
