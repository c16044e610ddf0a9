namespace Kiln.Protocol;

/// <summary>The decisions a ledger line can record.</summary>
public static class Decision
{
    /// <summary>The change took effect (possibly for a subset of keys; <c>notes</c> lists the rest).</summary>
    public const string Applied = "applied";
    /// <summary>Validation failed before anything changed; <c>error</c> says why.</summary>
    public const string Rejected = "rejected";
    /// <summary>Applying threw; <c>error</c> holds the exception.</summary>
    public const string Failed = "failed";
    /// <summary>An external change arrived while the run was frozen (<c>prod</c>).</summary>
    public const string IgnoredFreeze = "ignored_freeze";
    /// <summary>An external change arrived while the run was replaying a recipe.</summary>
    public const string IgnoredReplay = "ignored_replay";
    /// <summary>Nothing to do: the handle is disabled or the value is already set.</summary>
    public const string SkippedNoop = "skipped_noop";
    /// <summary>A replay entry whose moment passed before it could fire.</summary>
    public const string Missed = "missed";

    public static readonly string[] All = [Applied, Rejected, Failed, IgnoredFreeze, IgnoredReplay, SkippedNoop, Missed];
}

/// <summary>Who asked for a change. Written in the ledger's <c>source</c> field.</summary>
public static class Sources
{
    public const string Cli = "cli";
    public const string Dashboard = "dashboard";
    public const string Autopilot = "autopilot";
    public const string Tune = "tune";
    /// <summary>Settings and changes from <c>kiln.yaml</c>.</summary>
    public const string Yaml = "yaml";
    /// <summary>Registered in code by the trainer.</summary>
    public const string Code = "code";
    /// <summary>A recipe entry fired by the replay player.</summary>
    public const string Replay = "replay";
    /// <summary>A change made again after a resume: it was applied after the checkpoint the run resumed from.</summary>
    public const string Resume = "resume";
    /// <summary>A new <c>kiln.freeze.json</c> written by the CLI.</summary>
    public const string FreezeFile = "freeze_file";
    /// <summary>The kernel itself (recovery, failure isolation, configuration).</summary>
    public const string Kernel = "kernel";
    /// <summary>An inbox line without a <c>source</c> field.</summary>
    public const string External = "external";
}

/// <summary>The events of ledger lines the kernel writes outside the trainer's safe points.</summary>
public static class KernelEvents
{
    /// <summary>Lines written before the first safe point (the run's baseline).</summary>
    public const string Start = "kernel_start";

    /// <summary>Lines written when the run ends.</summary>
    public const string End = "run_end";
}
