using Kiln.Registry.Git;
using Kiln.Registry.Workspace;

namespace Kiln.Registry.Training;

/// <summary>Each run's code as a hidden ref of the workspace's repository (<see cref="GitSnapshot"/>); outside a repository, a note.</summary>
public sealed class GitCodeSnapshots(WorkspacePaths workspace) : ICodeSnapshots
{
    public string Take(string runDir, string runId, string message)
    {
        try
        {
            var s = GitSnapshot.Record(workspace.Root, runDir, runId, message, GitSnapshot.WorkspaceData(workspace));
            return $"code snapshot {s.Commit[..12]} ({s.Ref}{(s.Dirty ? ", uncommitted changes included" : "")})";
        }
        catch (GitException e) when (e.Failure is GitFailure.NotARepository or GitFailure.GitMissing)
        {
            return e.Message;
        }
        catch (GitException e)
        {
            // The run trains all the same; the user is told it has no snapshot, and why.
            return $"no code snapshot: {e.Message}";
        }
    }

    public void Drop(string runId)
    {
        try
        {
            var repo = GitRepository.Open(workspace.Root);
            repo.Git.Run(repo.TopLevel, ["update-ref", "-d", GitSnapshot.RefFor(runId)]);
        }
        catch (GitException)
        {
            // no repository, no snapshot to drop
        }
    }
}
