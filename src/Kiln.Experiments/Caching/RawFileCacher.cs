using System.Security.Cryptography;

namespace Kiln.Experiments.Caching;

/// <summary>
/// A file the stage writes itself (curifactory's <c>PathRef</c>): the stage asks <c>record.OutputPath("name")</c> where
/// to write, writes there, and returns that path. The value loaded back is the path, after its content is verified.
/// </summary>
public sealed class RawFileCacher(string extension = ".dat") : Cacher
{
    public RawFileCacher() : this(".dat")
    {
    }

    public override string Extension { get; } = extension;

    public override SavedArtifact Save(string path, object? value, Type type)
    {
        if (value is not string written || Path.GetFullPath(written) != Path.GetFullPath(path))
            throw new InvalidOperationException($"RawFileCacher: the stage must return the path it was given by record.OutputPath ({path}), not {value ?? "null"}");
        if (!File.Exists(path)) throw new FileNotFoundException($"RawFileCacher: the stage did not write {path}");
        using var s = File.OpenRead(path);
        return new SavedArtifact(Convert.ToHexStringLower(SHA256.HashData(s)), s.Length);
    }

    public override object? Load(string path, Type type, ArtifactMetadata recorded)
    {
        if (!File.Exists(path)) throw new CorruptArtifactException($"{path}: missing");
        using (var s = File.OpenRead(path))
        {
            if (Convert.ToHexStringLower(SHA256.HashData(s)) != recorded.Version) throw new CorruptArtifactException($"{path}: content changed since it was written");
        }
        return path;
    }
}
