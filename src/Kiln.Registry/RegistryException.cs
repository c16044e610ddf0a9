namespace Kiln.Registry;

/// <summary>
/// The workspace or its registry cannot be used as it stands: no workspace here, a damaged or newer registry, a run
/// recorded twice. The message names the file at fault and says what to do about it.
/// </summary>
public sealed class RegistryException : Exception
{
    public RegistryException(string message) : base(message) { }

    public RegistryException(string message, Exception inner) : base(message, inner) { }
}
