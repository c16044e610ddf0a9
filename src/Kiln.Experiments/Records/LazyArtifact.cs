using Kiln.Experiments.Pipeline;

namespace Kiln.Experiments;

/// <summary>
/// A stage output held by reference: in the record's state for <c>Lazy</c> outputs and outputs found in the cache,
/// loaded (and verified) only when read. A stage parameter of this type receives the reference itself (curifactory's
/// <c>Lazy(resolve=False)</c>), e.g. to hand the cached file's <see cref="Path"/> to another tool.
/// </summary>
public sealed class LazyArtifact
{
    internal LazyArtifact(StageNode node, int index)
    {
        Node = node;
        Index = index;
    }

    internal StageNode Node { get; }
    internal int Index { get; }

    public string Name => Node.Stage.OutputNames[Index];

    /// <summary>The file the output is cached in, or null when it has no cacher or is not saved yet.</summary>
    public string? Path => Node.ArtifactPath(Index);

    /// <summary>Loads the value (the stage runs first if it must).</summary>
    public object? Load() => Node.Manager.Load(Node, Index);

    public T Load<T>() => (T)Load()!;

    public override string ToString() => $"Lazy({Name} of stage {Node.Stage.Name})";
}
