namespace Kiln.Protocol;

/// <summary>
/// Bad input in one of the run's files or in a command: the message names the file, the key and the value at fault.
/// </summary>
public sealed class ProtocolException : Exception
{
    public ProtocolException(string message) : base(message) { }

    public ProtocolException(string message, Exception inner) : base(message, inner) { }

    /// <summary>Prefixes the message with the file it came from, so the error names its source.</summary>
    public ProtocolException InFile(string file) => new($"{file}: {Message}", this);
}
