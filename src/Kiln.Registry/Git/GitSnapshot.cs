using Kiln.Registry.Workspace;

namespace Kiln.Registry.Git;

/// <summary>
/// Code snapshots that never touch the user's work. A snapshot is a commit of the whole working tree — tracked
/// changes and untracked, non-ignored files — built with plumbing through a temporary index and kept by the hidden
/// ref <c>refs/kiln/runs/&lt;run id&gt;</c>. The working tree, the user's index, the stash, HEAD and the current
/// branch are left byte for byte as they were; it works on a detached HEAD, before the first commit, and from any
/// folder of the repository (docs/snapshots.md).
/// </summary>
public static class GitSnapshot
{
    /// <summary>Author and committer of snapshots in a repository whose <c>user.name</c> / <c>user.email</c> are unset.</summary>
    public const string FallbackName = "Kiln";
    public const string FallbackEmail = "kiln@localhost";

    /// <summary>
    /// Snapshots the working tree of the repository holding <paramref name="workTree"/> as the code of run
    /// <paramref name="runId"/> (its ref is replaced when the id had one). Folders in <paramref name="exclude"/> —
    /// a workspace's run directories and caches (<see cref="WorkspaceData"/>) — are left as HEAD has them. Throws a
    /// <see cref="GitException"/> when the folder is in no repository (<see cref="GitFailure.NotARepository"/>), git is
    /// missing (<see cref="GitFailure.GitMissing"/>), or git fails.
    /// </summary>
    public static Snapshot Take(string workTree, string runId, string message, IReadOnlyList<string>? exclude = null) =>
        Take(GitRunner.Default, workTree, runId, message, WorkingTree.DefaultSeed, exclude);

    /// <summary>
    /// Takes a snapshot for run <paramref name="runId"/> and records it as <c>kiln.snapshot.json</c> in
    /// <paramref name="runDirectory"/>: what <c>kiln train</c> and <c>kiln queue run</c> do before each run starts.
    /// </summary>
    public static Snapshot Record(string workTree, string runDirectory, string runId, string message, IReadOnlyList<string>? exclude = null)
    {
        var snapshot = Take(workTree, runId, message, exclude);
        SnapshotFile.Write(runDirectory, snapshot);
        return snapshot;
    }

    /// <summary>
    /// The folders of a workspace that hold what runs produce rather than code — run directories, trial logs, the
    /// registry and caches, reports — which snapshots leave out even when the repository does not ignore them.
    /// </summary>
    public static IReadOnlyList<string> WorkspaceData(WorkspacePaths workspace) =>
        [workspace.Runs, workspace.TrialLogs, workspace.State, workspace.Reports];

    /// <summary>The ref that keeps run <paramref name="runId"/>'s snapshot; a run id git cannot name is refused.</summary>
    public static string RefFor(string runId)
    {
        if (RefNameProblem(runId) is { } problem)
            throw new GitException(GitFailure.Refused, $"run id \"{runId}\" cannot name a git ref: {problem}");
        return Snapshot.RefPrefix + runId;
    }

    internal static Snapshot Take(GitRunner git, string workTree, string runId, string message, IndexSeed seed, IReadOnlyList<string>? exclude = null)
    {
        var refName = RefFor(runId);
        var (repo, head, headTree, branch) = GitRepository.OpenAtHead(workTree, git);
        var tree = WorkingTree.WriteTree(repo, head is not null, exclude, seed);
        var dirty = head is null ? !IsEmptyTree(tree) : tree != headTree;

        List<string> args = ["commit-tree", "--no-gpg-sign", tree];
        if (head is not null) args.AddRange(["-p", head]);
        args.AddRange(["-m", string.IsNullOrWhiteSpace(message) ? $"kiln run {runId}" : message]);
        var commit = git.Check(repo.TopLevel, args, Identity(repo)).Line;
        git.Check(repo.TopLevel, ["update-ref", "-m", $"kiln: code snapshot of run {runId}", refName, commit]);
        return new Snapshot(commit, refName, head, branch, dirty);
    }

    /// <summary>
    /// Author and committer for the snapshot: the repository's own (config or environment), else
    /// <see cref="FallbackName"/> &lt;<see cref="FallbackEmail"/>&gt;, so a snapshot never fails for want of an identity.
    /// </summary>
    private static Dictionary<string, string?> Identity(GitRepository repo)
    {
        var configured = repo.Git.Run(repo.TopLevel, ["config", "--get-regexp", @"^user\.(name|email)$"]).Stdout
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', 2))
            .Where(p => p.Length == 2 && p[1].Trim().Length > 0)
            .Select(p => p[0].ToLowerInvariant())
            .ToHashSet(StringComparer.Ordinal);
        var env = new Dictionary<string, string?>();
        void Fallback(string key, string variable, string value)
        {
            if (!configured.Contains(key) && string.IsNullOrEmpty(repo.Git.Environment.GetValueOrDefault(variable) ?? System.Environment.GetEnvironmentVariable(variable)))
                env[variable] = value;
        }
        Fallback("user.name", "GIT_AUTHOR_NAME", FallbackName);
        Fallback("user.name", "GIT_COMMITTER_NAME", FallbackName);
        Fallback("user.email", "GIT_AUTHOR_EMAIL", FallbackEmail);
        Fallback("user.email", "GIT_COMMITTER_EMAIL", FallbackEmail);
        return env;
    }

    // The empty tree in SHA-1 and SHA-256 repositories.
    private static bool IsEmptyTree(string tree) =>
        tree is "4b825dc642cb6eb9a060e54bf8d69288fbee4904" or "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321";

    /// <summary>Why <paramref name="runId"/> cannot follow <c>refs/kiln/runs/</c> (git check-ref-format's rules), or null.</summary>
    internal static string? RefNameProblem(string runId)
    {
        if (string.IsNullOrEmpty(runId)) return "it is empty";
        foreach (var c in runId)
        {
            if (c < 0x20 || c == 0x7f) return "it has a control character";
            if (c is ' ' or '~' or '^' or ':' or '?' or '*' or '[' or '\\') return $"it has '{c}'";
        }
        if (runId.Contains("..", StringComparison.Ordinal)) return "it has '..'";
        if (runId.Contains("@{", StringComparison.Ordinal)) return "it has '@{'";
        if (runId.EndsWith('.')) return "it ends with '.'";
        foreach (var part in runId.Split('/'))
        {
            if (part.Length == 0) return "it has an empty path component";
            if (part.StartsWith('.')) return "a component starts with '.'";
            if (part.EndsWith(".lock", StringComparison.Ordinal)) return "a component ends with '.lock'";
        }
        return null;
    }
}
