namespace Kiln.Experiments.Caching;

/// <summary>What saving an artifact produced: its data version (the content hash downstream keys are built from) and its size.</summary>
public sealed record SavedArtifact(string Version, long Length, IReadOnlyDictionary<string, string>? Files = null);

/// <summary>
/// Saves a stage output to a file and loads it back. Every load is checked against the data version recorded when it
/// was saved: an artifact that was truncated or changed on disk is a <see cref="CorruptArtifactException"/> (the stage
/// is then recomputed), never a value.
/// </summary>
public abstract class Cacher
{
    /// <summary>The file name's ending, with its dot.</summary>
    public abstract string Extension { get; }

    /// <summary>The name recorded in the artifact's metadata (and part of its stage's cache key).</summary>
    public virtual string Kind => GetType().Name;

    /// <summary>Writes <paramref name="value"/> (of <paramref name="type"/>) to <paramref name="path"/> atomically.</summary>
    public abstract SavedArtifact Save(string path, object? value, Type type);

    /// <summary>Reads the artifact, verifying it against <paramref name="recorded"/>.</summary>
    public abstract object? Load(string path, Type type, ArtifactMetadata recorded);

    /// <summary>A look without reading: the file exists and has the recorded length (a truncated file is caught here already).</summary>
    public virtual bool Present(string path, ArtifactMetadata recorded)
    {
        var info = new FileInfo(path);
        return info.Exists && info.Length == recorded.Length;
    }

    /// <summary>The cacher a <c>[Stage(Cachers = [typeof(JsonCacher)])]</c> names.</summary>
    internal static Cacher Create(Type type, string stage)
    {
        if (!typeof(Cacher).IsAssignableFrom(type) || type.IsAbstract)
            throw new StageSignatureException(StageSignatureException.Kinds.Cachers, $"stage {stage}: {type.FullName} is not a cacher (derive from Kiln.Experiments.Caching.Cacher)");
        if (type.GetConstructor(Type.EmptyTypes) is null)
            throw new StageSignatureException(StageSignatureException.Kinds.Cachers, $"stage {stage}: cacher {type.Name} has no parameterless constructor; build the stage with Stage.Named(…).Cache(new {type.Name}(…))");
        return (Cacher)Activator.CreateInstance(type)!;
    }
}

/// <summary>A cached artifact whose content no longer matches what was recorded.</summary>
public sealed class CorruptArtifactException(string message) : Exception(message);
