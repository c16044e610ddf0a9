using Kiln.Registry.Git;
using Kiln.Registry.Workspace;

namespace Kiln.Experiments.Runs;

/// <summary>
/// The code a run ran: HEAD's full commit, whether the working tree differed, and the hidden ref of a snapshot that
/// keeps the difference (<see cref="GitSnapshot"/>; the user's tree, index and branch are untouched). Outside a
/// repository, or without git, all three are null — said, not guessed (curifactory wrote a sentence as the commit).
/// </summary>
public sealed record CodeState(string? Commit, bool? Dirty, string? SnapshotRef)
{
    public static CodeState Capture(WorkspacePaths workspace, string experiment, DateTimeOffset started)
    {
        ArgumentNullException.ThrowIfNull(workspace);
        if (!InRepository(workspace.Root)) return new CodeState(null, null, null);
        try
        {
            var id = $"experiment-{experiment}-{started:yyyyMMddTHHmmssfff}";
            var s = GitSnapshot.Take(workspace.Root, id, $"kiln experiment {experiment}", GitSnapshot.WorkspaceData(workspace));
            return new CodeState(s.Head, s.Dirty, s.Ref);
        }
        catch (GitException)
        {
            return new CodeState(null, null, null);
        }
    }

    // A look for .git is far cheaper than starting git to be told there is no repository.
    private static bool InRepository(string dir)
    {
        for (var d = new DirectoryInfo(dir); d is not null; d = d.Parent)
        {
            if (Directory.Exists(Path.Combine(d.FullName, ".git")) || File.Exists(Path.Combine(d.FullName, ".git"))) return true;
        }
        return false;
    }
}
