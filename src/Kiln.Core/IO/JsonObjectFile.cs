using System.Text.Json.Nodes;
using Kiln.Protocol;

namespace Kiln.IO;

/// <summary>A small JSON file holding one object (<c>kiln.model.json</c>, <c>kiln.params.json</c>, …), read whole.</summary>
public static class JsonObjectFile
{
    /// <summary>
    /// The object, or null when there is no such file. Throws <see cref="ProtocolException"/> (<c>content: …</c>) when it
    /// is not one JSON object; I/O errors propagate.
    /// </summary>
    public static JsonObject? Read(string path)
    {
        // Most run directories lack most of these files: a look is far cheaper than the exception of a failed open.
        if (!File.Exists(path)) return null;
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        return JsonValues.GetObject(JsonValues.ParseDocument(bytes, "content"), "content");
    }

    /// <summary>The object, or null when the file is absent or cannot be read — the fault then added to <paramref name="problems"/> as <c>path: message</c>.</summary>
    public static JsonObject? TryRead(string path, ICollection<string> problems)
    {
        try
        {
            return Read(path);
        }
        catch (Exception ex) when (ex is ProtocolException or IOException or UnauthorizedAccessException)
        {
            problems.Add($"{path}: {ex.Message}");
            return null;
        }
    }
}
