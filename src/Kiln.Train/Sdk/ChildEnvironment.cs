using System.Globalization;
using Kiln.Runs;
using Kiln.Protocol;

namespace Kiln.Train.Sdk;

/// <summary>
/// What a parent (<c>kiln train</c>, <c>kiln trial</c>, <c>kiln queue run</c>) tells the training program it starts,
/// read from the environment (docs/protocol.md, "Trainer SDK files"). Parents use the variable names from here.
/// </summary>
public sealed record ChildEnvironment
{
    public const string RunDirVariable = ChildEnv.RunDir;
    public const string ModeVariable = ChildEnv.Mode;
    public const string WorkspaceVariable = ChildEnv.Workspace;
    public const string QueueVariable = ChildEnv.QueueParams;
    public const string ChoiceTimeoutVariable = ChildEnv.ChoiceTimeout;
    public const string ParentPidVariable = StopSignals.ParentPidVariable;

    /// <summary>How long a trial waits for the parent's choice when <c>KILN_CHOICE_TIMEOUT</c> does not say.</summary>
    public static readonly TimeSpan DefaultChoiceTimeout = TimeSpan.FromSeconds(600);

    /// <summary>The run directory, as a full path; null when the program runs by hand.</summary>
    public string? RunDir { get; init; }

    public SdkMode Mode { get; init; }

    /// <summary><c>KILN_MODE</c> as given (<c>train</c>, <c>sweep</c>, …), or null.</summary>
    public string? ModeName { get; init; }

    /// <summary>The workspace root, or null.</summary>
    public string? Workspace { get; init; }

    /// <summary><c>KILN_QUEUE</c> as given: the injected hyper-parameters, a JSON object.</summary>
    public string? QueueJson { get; init; }

    /// <summary>The parent's pid (<c>KILN_PARENT_PID</c>), watched while a trial waits for its choice; null when not given.</summary>
    public int? ParentPid { get; init; }

    public TimeSpan ChoiceTimeout { get; init; } = DefaultChoiceTimeout;

    /// <summary>Variables that were set but could not be used, each a sentence; the SDK prints them once.</summary>
    public IReadOnlyList<string> Problems { get; init; } = [];

    /// <summary>This process's environment.</summary>
    public static ChildEnvironment FromProcess() => From(Environment.GetEnvironmentVariable);

    /// <summary>An environment given as name → value (tests, parents preparing a child).</summary>
    public static ChildEnvironment From(IReadOnlyDictionary<string, string?> variables) =>
        From(name => variables.TryGetValue(name, out var value) ? value : null);

    public static ChildEnvironment From(Func<string, string?> variable)
    {
        ArgumentNullException.ThrowIfNull(variable);
        var problems = new List<string>();
        var runDir = NonEmpty(variable(RunDirVariable));
        var modeName = NonEmpty(variable(ModeVariable));
        var mode = runDir is null ? SdkMode.None : modeName?.ToLowerInvariant() switch
        {
            // A run directory given without a mode is a training run, started by hand or by a simple parent.
            null or ChildEnv.Train => SdkMode.Train,
            ChildEnv.Trial => SdkMode.Trial,
            ChildEnv.Queue => SdkMode.Queue,
            _ => SdkMode.Other,
        };

        int? parentPid = null;
        if (NonEmpty(variable(ParentPidVariable)) is { } pidText)
        {
            if (int.TryParse(pidText, NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid) && pid > 0) parentPid = pid;
            else problems.Add($"{ParentPidVariable}={pidText} is not a process id; ignored");
        }

        var timeout = DefaultChoiceTimeout;
        if (NonEmpty(variable(ChoiceTimeoutVariable)) is { } timeoutText)
        {
            if (double.TryParse(timeoutText, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && double.IsFinite(seconds) && seconds > 0 && seconds <= TimeSpan.MaxValue.TotalSeconds / 2)
                timeout = TimeSpan.FromSeconds(seconds);
            else problems.Add($"{ChoiceTimeoutVariable}={timeoutText} is not a positive number of seconds; waiting the default {DefaultChoiceTimeout.TotalSeconds:0} s");
        }

        return new ChildEnvironment
        {
            RunDir = runDir is null ? null : Path.GetFullPath(runDir),
            Mode = mode,
            ModeName = modeName,
            Workspace = NonEmpty(variable(WorkspaceVariable)) is { } ws ? Path.GetFullPath(ws) : null,
            QueueJson = NonEmpty(variable(QueueVariable)),
            ParentPid = parentPid,
            ChoiceTimeout = timeout,
            Problems = problems,
        };
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
