namespace Kiln.Modules.Opt;

/// <summary>The optimizer dials the <c>opt</c> module turns.</summary>
public enum OptimizerKey
{
    /// <summary>The group's learning rate now; setting it rebases the schedule.</summary>
    Lr,
    WeightDecay,
    Beta1,
    Beta2,
    Eps,
    Momentum,
    /// <summary>The multiplier on the group's schedule (1 = the schedule as configured).</summary>
    SchedulerScale,
    /// <summary>Gradient clipping by global norm; 0 turns it off. Not per group.</summary>
    ClipNorm,
}

/// <summary>
/// How the kernel reaches an optimizer. Kiln.Train's optimizers implement it; an adapter of a few lines
/// brings any other engine (see docs/kernel.md). The kernel validates values before calling <c>Set</c>.
/// </summary>
public interface IOptimizerActuator
{
    /// <summary>The parameter groups by name (<c>"0"</c>, <c>"backbone"</c>, …); at least one.</summary>
    IReadOnlyList<string> Groups { get; }

    /// <summary>A short description for messages, such as <c>adam</c>.</summary>
    string Kind { get; }

    bool Supports(OptimizerKey key);

    /// <summary>The current value; <paramref name="group"/> is ignored for <see cref="OptimizerKey.ClipNorm"/>.</summary>
    double Get(int group, OptimizerKey key, long step);

    void Set(int group, OptimizerKey key, double value, long step);

    /// <summary>
    /// The group's learning rate as base × scale × schedule, so a front end can tell the rate now from its base;
    /// null (the default) for an optimizer that keeps no schedule of its own.
    /// </summary>
    ScheduledLr? LrOf(int group) => null;
}
