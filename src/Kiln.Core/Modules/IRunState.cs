namespace Kiln.Modules;

/// <summary>
/// The trainer's state a module can capture in memory and put back: the weights, the optimizer's buffers, counters and
/// dials, and the loss dials — what the next step's arithmetic depends on, without the data position. <c>tune</c> takes
/// one before each mutation and rolls back to it when the mutation did not pay. Kiln.Train's built-in runs register
/// theirs (<c>KilnKernel.SetRunState</c>, which also plugs <c>tune</c> in); another engine needs an adapter of a few lines.
/// </summary>
public interface IRunState
{
    /// <summary>A copy of the state now; later training does not change it.</summary>
    object Capture();

    /// <summary>Puts back a state <see cref="Capture"/> returned (one snapshot can be restored more than once).</summary>
    void Restore(object snapshot);
}
