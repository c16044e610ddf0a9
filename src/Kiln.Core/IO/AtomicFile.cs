using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Kiln.IO;

/// <summary>Whole-file writes that readers never see half done: write a temporary file beside the target, then rename.</summary>
public static class AtomicFile
{
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> content, bool durable = true)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            FileStream fs;
            try
            {
                fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1);
            }
            catch (DirectoryNotFoundException)
            {
                // The folder is made only when it is missing: writing thousands of files, a create-directory call
                // per file is a system call each that the file system answers slowly.
                Directory.CreateDirectory(dir);
                fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1);
            }
            using (fs)
            {
                fs.Write(content);
                fs.Flush(durable);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    public static void WriteAllText(string path, string content, bool durable = true) =>
        WriteAllBytes(path, Encoding.UTF8.GetBytes(content), durable);

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Writes a JSON document, indented and newline-terminated.</summary>
    public static void WriteJson(string path, JsonNode node, bool durable = true) =>
        WriteAllText(path, node.ToJsonString(Indented) + "\n", durable);

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
