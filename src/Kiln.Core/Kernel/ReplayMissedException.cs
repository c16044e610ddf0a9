namespace Kiln.Kernel;

/// <summary>Thrown by a kernel replaying under the <c>strict</c> policy when a recipe entry could not fire at its moment.</summary>
public sealed class ReplayMissedException(string message) : Exception(message);
