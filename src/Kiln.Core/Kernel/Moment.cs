using Kiln.Modules;

namespace Kiln.Kernel;

/// <summary>Where a decision is made: the trainer's step (null before the first safe point), the event, the trainer's env.</summary>
internal readonly record struct Moment(long? Step, string Event, KernelEnv? Env);
