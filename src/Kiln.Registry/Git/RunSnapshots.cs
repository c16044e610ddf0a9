using Kiln.Protocol;
using Kiln.Registry.Workspace;

namespace Kiln.Registry.Git;

/// <summary>
/// Finds the directory of a run by its id. Until the registry indexes runs, <see cref="FolderRunFinder"/> looks in the
/// workspace's folders; the registry answers the same question faster once it lands.
/// </summary>
public interface IRunFinder
{
    /// <summary>The directories of runs called <paramref name="runId"/> that hold a code snapshot (none, one, or — ambiguous — several).</summary>
    IReadOnlyList<string> Find(string runId);
}

/// <summary>
/// Looks for <c>runs/&lt;id&gt;/kiln.snapshot.json</c> under a root, then for any folder named after the id that holds
/// one (a trial's run directory under <c>out/log/…</c>), never descending into <c>.git</c>, <c>.kiln</c>, <c>node_modules</c>,
/// <c>bin</c> or <c>obj</c>.
/// </summary>
public sealed class FolderRunFinder(string root) : IRunFinder
{
    private static readonly HashSet<string> Skip = new(StringComparer.Ordinal) { ".git", ".kiln", "node_modules", "bin", "obj", "kiln.sources" };

    public string Root { get; } = Path.GetFullPath(root);

    public IReadOnlyList<string> Find(string runId)
    {
        if (GitSnapshot.RefNameProblem(runId) is not null) return [];
        var direct = Path.Combine(Root, "runs", runId);
        if (File.Exists(Path.Combine(direct, RunFiles.Snapshot))) return [direct];
        var name = Path.GetFileName(runId);
        var found = new List<string>();
        var pending = new Stack<string>();
        pending.Push(Root);
        while (pending.Count > 0)
        {
            var dir = pending.Pop();
            IEnumerable<string> subs;
            try { subs = Directory.EnumerateDirectories(dir); }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { continue; }
            foreach (var sub in subs)
            {
                var leaf = Path.GetFileName(sub);
                if (Skip.Contains(leaf) || new FileInfo(sub).LinkTarget is not null) continue;
                if (leaf == name && sub.EndsWith(Path.DirectorySeparatorChar + runId, StringComparison.Ordinal) && File.Exists(Path.Combine(sub, RunFiles.Snapshot)))
                    found.Add(sub);
                else pending.Push(sub);
            }
        }
        found.Sort(StringComparer.Ordinal);
        return found;
    }
}

/// <summary>A run's code snapshot and the run directory that records it.</summary>
public sealed record RunSnapshot(string RunId, string RunDirectory, Snapshot Snapshot);

/// <summary>Resolves what <c>kiln revert</c> and <c>kiln diff</c> are given — a run id, or a run directory's path — to its snapshot.</summary>
public sealed class RunSnapshots
{
    public RunSnapshots(string root, IRunFinder finder)
    {
        Root = Path.GetFullPath(root);
        Finder = finder;
    }

    /// <summary>The workspace root (or the repository's top level) that runs are looked for under; git commands run there.</summary>
    public string Root { get; }

    public IRunFinder Finder { get; }

    /// <summary>
    /// For a folder: the workspace holding it (the nearest <c>kiln.json</c> above), else the top level of its git
    /// repository, searched with a <see cref="FolderRunFinder"/>.
    /// </summary>
    public static RunSnapshots For(string folder)
    {
        var root = WorkspacePaths.Find(folder)?.Root;
        if (root is null)
        {
            try { root = GitRepository.Open(folder).TopLevel; }
            catch (GitException ex) when (ex.Failure == GitFailure.NotARepository)
            {
                throw new GitException(GitFailure.NotARepository,
                    $"no kiln workspace (kiln.json) or git repository at or above {Path.GetFullPath(folder)}", ex);
            }
        }
        return new RunSnapshots(root, new FolderRunFinder(root));
    }

    /// <summary>
    /// The snapshot of run <paramref name="idOrPath"/>: a run directory's path (relative to <paramref name="cwd"/>), or
    /// a run id the finder knows. A run without a snapshot, an unknown id or an ambiguous one is a <see cref="GitException"/>
    /// (<see cref="GitFailure.Refused"/>) that says which.
    /// </summary>
    public RunSnapshot Resolve(string idOrPath, string? cwd = null)
    {
        var asPath = Path.GetFullPath(idOrPath, cwd ?? Directory.GetCurrentDirectory());
        if (Directory.Exists(asPath) && (idOrPath.Contains('/', StringComparison.Ordinal) || idOrPath is "." or ".."
                                         || File.Exists(Path.Combine(asPath, RunFiles.Snapshot))))
        {
            var own = SnapshotFile.Read(asPath) ?? throw new GitException(GitFailure.Refused,
                $"{asPath} has no {RunFiles.Snapshot}: the run was recorded without a code snapshot (not in a git repository, or before snapshots)");
            return new RunSnapshot(own.RunId, asPath, own);
        }
        var found = Finder.Find(idOrPath);
        if (found.Count == 0)
        {
            var dir = Path.Combine(Root, "runs", idOrPath);
            throw new GitException(GitFailure.Refused, Directory.Exists(dir)
                ? $"run {idOrPath} has no {RunFiles.Snapshot} in {dir}: it was recorded without a code snapshot"
                : $"no run {idOrPath} with a code snapshot under {Root} (looked for runs/{idOrPath}/{RunFiles.Snapshot})");
        }
        if (found.Count > 1)
            throw new GitException(GitFailure.Refused, $"run id {idOrPath} is ambiguous: {string.Join(", ", found)}; give the run directory's path");
        var snapshot = SnapshotFile.Read(found[0])!;
        return new RunSnapshot(idOrPath, found[0], snapshot);
    }
}
