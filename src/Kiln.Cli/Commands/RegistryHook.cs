using Kiln.Cli.Output;
using Kiln.Registry;
using Kiln.Registry.Indexing;
using Kiln.Registry.Store;
using Kiln.Registry.Workspace;

namespace Kiln.Cli.Commands;

/// <summary>
/// Runs that <c>launch</c>, <c>demo</c> and <c>trials run</c> train inside a workspace are recorded in its registry
/// when they end, as <c>kiln train</c>'s are; outside a workspace there is nothing to record into.
/// </summary>
internal static class RegistryHook
{
    public static void Record(IEnumerable<string> runDirs)
    {
        foreach (var group in runDirs.GroupBy(d => WorkspacePaths.Find(d)?.Root))
        {
            if (group.Key is null) continue;
            var workspace = new WorkspacePaths(group.Key);
            try
            {
                using var db = RegistryDb.Open(workspace);
                foreach (var dir in group) RunIndexer.Record(workspace, db, dir);
            }
            catch (Exception ex) when (ex is RegistryException or IOException or UnauthorizedAccessException)
            {
                // The run's files are whole; `kiln registry rebuild` records it later.
                Terminal.Warn($"not recorded in the registry: {ex.Message}");
            }
        }
    }
}
