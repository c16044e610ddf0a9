namespace Kiln.Experiments.Hashing;

/// <summary>
/// A value that cannot be fingerprinted. Never silently hashed to a constant (Hamilton's <c>"&lt;unhashable&gt;"</c>,
/// apache/hamilton #1715): a key that ignores a value lies about what it covers.
/// </summary>
public sealed class FingerprintException(string message) : Exception(message);
