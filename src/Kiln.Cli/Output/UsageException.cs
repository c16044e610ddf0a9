namespace Kiln.Cli.Output;

/// <summary>The command line itself was wrong (exit code 2), as opposed to a failure doing the work (exit code 1).</summary>
internal sealed class UsageException(string message) : Exception(message);
