using Kiln.IO;

namespace Kiln.Experiments.Caching;

/// <summary>
/// The cache folder: where each stage output lives (<c>{cache}/{prefix}_{key16}_{stage}_{output}{ext}</c>, the key being
/// the stage's whole cache key, so a new key is a new file and an old result is never overwritten by a different
/// computation), its metadata, and the lock that keeps two processes from computing the same stage at once. Writes
/// are atomic (temporary file, then rename): a reader never sees half an artifact.
/// </summary>
public sealed class ArtifactStore(string directory, string prefix, bool readOnly)
{
    /// <summary>How long a process waits for another that computes the same stage.</summary>
    public static readonly TimeSpan LockWait = TimeSpan.FromDays(1);

    public string Directory { get; } = Path.GetFullPath(directory);
    public string Prefix { get; } = prefix;

    /// <summary>Reads only (<c>--dry-cache</c>, <c>--dry</c>): nothing is written.</summary>
    public bool ReadOnly { get; } = readOnly;

    /// <summary>The base of a stage's files: <c>{cache}/{prefix}_{key16}_{stage}</c>.</summary>
    public string Base(string key, string stage) => Path.Combine(Directory, $"{Prefix}_{key[..16]}_{stage}");

    public string ArtifactPath(string key, string stage, string output, string extension) => $"{Base(key, stage)}_{output}{extension}";

    public string MetadataPath(string key, string stage, string output) => $"{Base(key, stage)}_{output}_metadata.json";

    /// <summary>The recorded metadata of an output, or null when there is none for exactly this key.</summary>
    public ArtifactMetadata? ReadMetadata(string key, string stage, string output)
    {
        var path = MetadataPath(key, stage, output);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        var m = ArtifactMetadata.Parse(bytes);
        // The file name holds 64 bits of the key; the metadata holds all of it.
        return m is not null && m.StageKey == key ? m : null;
    }

    /// <summary>
    /// A cached output read back, verified against its metadata (a notebook reloading a run's records uses this):
    /// <paramref name="cacher"/> is the one the stage saved it with.
    /// </summary>
    public T Load<T>(string key, string stage, string output, Cacher cacher)
    {
        ArgumentNullException.ThrowIfNull(cacher);
        var metadata = ReadMetadata(key, stage, output)
            ?? throw new CorruptArtifactException($"{MetadataPath(key, stage, output)}: no metadata for this key (was the cache cleared, or the stage run again?)");
        return (T)cacher.Load(ArtifactPath(key, stage, output, cacher.Extension), typeof(T), metadata)!;
    }

    public void WriteMetadata(string key, string stage, string output, ArtifactMetadata metadata)
    {
        if (ReadOnly) return;
        AtomicFile.WriteJson(MetadataPath(key, stage, output), metadata.ToJson(), durable: false);
    }

    /// <summary>Holds the stage's lock (across processes) while it is computed and saved; null when read-only.</summary>
    public IDisposable? Lock(string key, string stage)
    {
        if (ReadOnly) return null;
        System.IO.Directory.CreateDirectory(Directory);
        return FileLock.Acquire(Base(key, stage) + ".lock", LockWait);
    }
}
