using System.Security.Cryptography;
using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Modules.Callbacks;

/// <summary>
/// Byte copies of loaded source files in the run (<c>kiln.sources/&lt;sha256&gt;.cs</c>), written once, so a replay
/// runs exactly the code the original run ran even after the file changed or vanished.
/// </summary>
public static class SourceCaptures
{
    /// <summary>Copies <paramref name="source"/> into the run and returns the capture and its bytes.</summary>
    public static (SourceCapture Capture, byte[] Bytes) Capture(RunFiles run, string source)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(source); }
        catch (FileNotFoundException) { throw new ProtocolException($"target.path: source file not found: {source}"); }
        catch (DirectoryNotFoundException) { throw new ProtocolException($"target.path: source file not found: {source}"); }
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var relative = Path.Combine(RunFiles.SourcesDir, sha + Path.GetExtension(source).ToLowerInvariant());
        var path = run.Resolve(relative);
        if (!File.Exists(path)) AtomicFile.WriteAllBytes(path, bytes);
        return (new SourceCapture(sha, relative), bytes);
    }

    /// <summary>Reads a capture back, checking that its bytes still hash to its name.</summary>
    public static byte[] Read(RunFiles run, SourceCapture capture)
    {
        var path = run.Resolve(capture.CapturedPath);
        if (!File.Exists(path)) throw new ProtocolException($"source_capture: {capture.CapturedPath} is missing from the run");
        var bytes = File.ReadAllBytes(path);
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (!string.Equals(sha, capture.Sha256, StringComparison.OrdinalIgnoreCase))
            throw new ProtocolException($"source_capture: {capture.CapturedPath} was modified (its sha256 is {sha}, the ledger recorded {capture.Sha256})");
        return bytes;
    }
}
