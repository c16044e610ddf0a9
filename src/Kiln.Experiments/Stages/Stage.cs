using Kiln.Experiments.Caching;

namespace Kiln.Experiments;

/// <summary>
/// A stage built in code rather than by attribute, for lambdas and for cachers that take arguments:
/// <c>record.Run(Stage.Named("split").Outputs("train", "test").Cache(new CsvCacher(), new CsvCacher()), (Record r, Table data) => …)</c>.
/// </summary>
public sealed record Stage
{
    public required string Name { get; init; }
    public IReadOnlyList<string> OutputNames { get; init; } = [];
    public IReadOnlyList<string>? InputNames { get; init; }
    public IReadOnlyList<Cacher>? Cachers { get; init; }
    public IReadOnlySet<string> LazyNames { get; init; } = new HashSet<string>();
    public bool IsAggregate { get; init; }
    public bool SuppressMissingInputs { get; init; }

    public static Stage Named(string name) => new() { Name = name };

    public Stage Inputs(params string[] names) => this with { InputNames = names };

    public Stage Outputs(params string[] names) => this with { OutputNames = names };

    public Stage Cache(params Cacher[] cachers) => this with { Cachers = cachers };

    public Stage Lazy(params string[] names) => this with { LazyNames = new HashSet<string>(names, StringComparer.Ordinal) };

    public Stage Aggregate() => this with { IsAggregate = true };

    public Stage SuppressMissing() => this with { SuppressMissingInputs = true };

    /// <summary>The stage a method's <see cref="StageAttribute"/> declares.</summary>
    internal static Stage FromAttribute(System.Reflection.MethodInfo method)
    {
        var attribute = method.GetCustomAttributes(typeof(StageAttribute), false).Cast<StageAttribute>().FirstOrDefault()
            ?? throw new StageSignatureException(StageSignatureException.Kinds.Outputs,
                $"{method.DeclaringType?.Name}.{method.Name} is not a stage: mark it [Stage(…)] or [Aggregate(…)], or run it with Stage.Named(…)");
        var name = method.Name;
        return new Stage
        {
            Name = name,
            OutputNames = attribute.Outputs,
            InputNames = attribute.Inputs,
            Cachers = attribute.Cachers?.Select(t => Cacher.Create(t, name)).ToList(),
            LazyNames = new HashSet<string>(attribute.Lazy ?? [], StringComparer.Ordinal),
            IsAggregate = attribute is AggregateAttribute,
            SuppressMissingInputs = attribute.SuppressMissingInputs,
        };
    }
}
