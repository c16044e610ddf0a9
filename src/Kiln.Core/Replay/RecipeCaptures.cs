using System.Security.Cryptography;
using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Replay;

/// <summary>
/// The C# sources a recipe's <c>cb load</c> entries captured (<c>kiln.sources/&lt;sha256&gt;.cs</c>) travel with it: an
/// export written outside its run copies them beside the recipe, and a run that starts replaying a recipe copies them
/// in from beside it, each checked against its hash — so a recipe replays in any directory.
/// </summary>
public static class RecipeCaptures
{
    /// <summary>Copies the captures the recipe names from the run it came from to beside the recipe (when that is elsewhere).</summary>
    public static void Export(RunFiles from, string recipePath, IEnumerable<RecipeEntry> entries)
    {
        var beside = new RunFiles(Path.GetDirectoryName(Path.GetFullPath(recipePath))!);
        if (beside.Dir == from.Dir) return;
        foreach (var capture in Captures(entries))
        {
            var target = beside.Resolve(capture.CapturedPath);
            if (File.Exists(target)) continue;
            AtomicFile.WriteAllBytes(target, ReadChecked(from.Resolve(capture.CapturedPath), capture, $"the run {from.Dir}"));
        }
    }

    /// <summary>
    /// Brings the captures a recipe needs into the run about to replay it: those the run lacks are copied from beside the
    /// recipe. A capture found in neither place is an error now, not a failed callback later.
    /// </summary>
    public static void Import(RunFiles into, string recipePath, IEnumerable<RecipeEntry> entries)
    {
        var beside = new RunFiles(Path.GetDirectoryName(Path.GetFullPath(recipePath))!);
        foreach (var capture in Captures(entries))
        {
            var target = into.Resolve(capture.CapturedPath);
            if (File.Exists(target)) continue;
            var source = beside.Resolve(capture.CapturedPath);
            if (!File.Exists(source))
            {
                throw new ProtocolException(
                    $"source_capture: the recipe loads {capture.CapturedPath}, which is neither in {into.Dir} nor beside the recipe in {beside.Dir} (export the recipe with `kiln recipe export --out`, which copies it)");
            }
            AtomicFile.WriteAllBytes(target, ReadChecked(source, capture, beside.Dir));
        }
    }

    private static IEnumerable<SourceCapture> Captures(IEnumerable<RecipeEntry> entries) =>
        entries.Select(e => e.SourceCapture).OfType<SourceCapture>().DistinctBy(c => c.CapturedPath);

    private static byte[] ReadChecked(string path, SourceCapture capture, string where)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ProtocolException($"source_capture: {capture.CapturedPath} is missing from {where}");
        }
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (!string.Equals(sha, capture.Sha256, StringComparison.OrdinalIgnoreCase))
            throw new ProtocolException($"source_capture: {path} was modified (its sha256 is {sha}, the recipe recorded {capture.Sha256})");
        return bytes;
    }
}
