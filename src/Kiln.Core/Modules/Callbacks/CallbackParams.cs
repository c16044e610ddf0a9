using Kiln.Protocol;

namespace Kiln.Modules.Callbacks;

/// <summary>Checks shared by callbacks' constructors and <c>SetParams</c>; a bad value is a clear error naming the key.</summary>
public static class CallbackParams
{
    /// <summary>An interval in steps: at least 1.</summary>
    public static int Every(int every) => every >= 1 ? every : throw new ProtocolException($"every: must be >= 1, got {every}");
}
