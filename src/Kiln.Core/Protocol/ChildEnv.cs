namespace Kiln.Protocol;

/// <summary>
/// What a parent (<c>kiln train</c>, <c>kiln trial</c>, <c>kiln queue run</c>, a trial runner) tells the training
/// program it starts, through its environment (docs/protocol.md).
/// </summary>
public static class ChildEnv
{
    /// <summary>The run directory the program reports into.</summary>
    public const string RunDir = "KILN_RUN_DIR";

    /// <summary>Why the program runs: <see cref="Train"/>, <see cref="Trial"/> or <see cref="Queue"/>.</summary>
    public const string Mode = "KILN_MODE";

    /// <summary>The workspace's root (the folder holding <c>kiln.json</c>).</summary>
    public const string Workspace = "KILN_WORKSPACE";

    /// <summary>In <see cref="Queue"/> mode, the injected hyper-parameters as one JSON object.</summary>
    public const string QueueParams = "KILN_QUEUE";

    /// <summary>In <see cref="Trial"/> mode, how long (seconds) the program waits for its parent's choice of weights.</summary>
    public const string ChoiceTimeout = "KILN_CHOICE_TIMEOUT";

    public const string Train = "train";
    public const string Trial = "trial";
    public const string Queue = "queue";
}
