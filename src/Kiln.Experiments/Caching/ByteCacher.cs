using System.Security.Cryptography;
using Kiln.IO;

namespace Kiln.Experiments.Caching;

/// <summary>A cacher whose artifact is one file of bytes it encodes; the data version is the SHA-256 of those bytes.</summary>
public abstract class ByteCacher : Cacher
{
    protected abstract byte[] Encode(object? value, Type type);

    protected abstract object? Decode(byte[] bytes, Type type);

    public override SavedArtifact Save(string path, object? value, Type type)
    {
        var bytes = Encode(value, type);
        // Not flushed to the disk: a power cut may leave a short file, which the length and hash checks refuse.
        AtomicFile.WriteAllBytes(path, bytes, durable: false);
        return new SavedArtifact(Convert.ToHexStringLower(SHA256.HashData(bytes)), bytes.Length);
    }

    public override object? Load(string path, Type type, ArtifactMetadata recorded)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CorruptArtifactException($"{path}: missing");
        }
        var actual = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (actual != recorded.Version)
            throw new CorruptArtifactException($"{path}: content hash {actual[..12]} is not the recorded {recorded.Version[..Math.Min(12, recorded.Version.Length)]} ({bytes.Length} of {recorded.Length} bytes)");
        try
        {
            return Decode(bytes, type);
        }
        catch (Exception ex) when (ex is not CorruptArtifactException)
        {
            throw new CorruptArtifactException($"{path}: cannot be read back as {type.Name}: {ex.Message}");
        }
    }
}
