namespace Kiln.Experiments.Hashing;

/// <summary>
/// Leaves a parameter out of the parameter hash (and so out of every cache key), like <see cref="ExperimentParams.Name"/>:
/// for values that label a run without changing what it computes (a description, a plot colour).
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class NotHashedAttribute : Attribute;
