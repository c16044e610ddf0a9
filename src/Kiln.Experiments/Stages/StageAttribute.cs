namespace Kiln.Experiments;

/// <summary>
/// Declares a method as a stage: <c>[Stage("model", Cachers = [typeof(JsonCacher)])] static Model Train(Record r, int[] data)</c>.
/// The first parameter is the record; the others are inputs, taken from the record's state by their names (or the
/// names in <see cref="Inputs"/>). The return value is the output (a tuple for several). Call it with
/// <c>record.Run(Train)</c>.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public class StageAttribute(params string[] outputs) : Attribute
{
    public string[] Outputs { get; } = outputs;

    /// <summary>The inputs; by default the method's parameters after the record.</summary>
    public string[]? Inputs { get; init; }

    /// <summary>One cacher type per output (null: the outputs are not cached).</summary>
    public Type[]? Cachers { get; init; }

    /// <summary>Outputs kept out of memory: saved, then loaded again only when used (they need a cacher).</summary>
    public string[]? Lazy { get; init; }

    /// <summary>An input no earlier stage produced takes the parameter's default value instead of failing.</summary>
    public bool SuppressMissingInputs { get; init; }
}

/// <summary>
/// Declares a method as an aggregate stage over many records:
/// <c>[Aggregate("best")] static string Best(Record r, IReadOnlyList&lt;Record&gt; records, IReadOnlyDictionary&lt;Record, double&gt; score)</c>.
/// Each input is a dictionary from record to that record's value (records without it are left out, with a warning).
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class AggregateAttribute(params string[] outputs) : StageAttribute(outputs);
