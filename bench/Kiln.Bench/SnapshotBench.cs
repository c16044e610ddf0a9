using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Kiln.Registry.Git;

namespace Kiln.Bench;

/// <summary>
/// A code snapshot of a 10,000-file repository with 10 changed and 2 untracked files (target ≤ 100 ms), in-process,
/// beside DVC's way of capturing a dirty tree (stash everything, then restore it) measured on the same repository in
/// the same run. The working tree, index, HEAD, branch and stash are checked to be unchanged by the snapshots.
/// </summary>
internal static class SnapshotBench
{
    public static void Run(int runs)
    {
        var root = Path.Combine(Path.GetTempPath(), "kiln-bench-snapshot-" + Guid.NewGuid().ToString("N")[..8]);
        var git = new GitRunner();
        try
        {
            var repo = Directory.CreateDirectory(Path.Combine(root, "repo")).FullName;
            Make(git, repo);
            var before = State(git, repo);

            // Kiln: the chosen way (a copy of the index: add -A hashes only changed files), and the read-tree way.
            var spawnsBefore = git.Started;
            GitSnapshot.Take(git, repo, "warm-0", "bench", IndexSeed.CopyIndex);
            var spawns = git.Started - spawnsBefore;
            var steps = new Dictionary<string, List<double>>();
            git.Trace = (args, time) =>
            {
                var name = string.Join(' ', args.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).Take(1));
                if (!steps.TryGetValue(name, out var list)) steps[name] = list = [];
                list.Add(time.TotalMilliseconds);
            };
            var copied = Time(runs, i => GitSnapshot.Take(git, repo, $"copy-{i}", "bench", IndexSeed.CopyIndex));
            git.Trace = null;
            var readTree = Time(Math.Max(3, runs / 3), i => GitSnapshot.Take(git, repo, $"read-{i}", "bench", IndexSeed.ReadTree));
            var floor = Time(runs, _ => git.Check(repo, ["rev-parse", "HEAD"]));
            var unchanged = State(git, repo) == before;
            if (!unchanged) throw new InvalidOperationException("the snapshots changed the working tree, index, HEAD, branch or stash");

            // DVC's way: `git stash push -u && git stash pop` (two processes), which rewrites the index and the files.
            var stash = Time(Math.Max(3, runs / 3), _ =>
            {
                git.Check(repo, ["stash", "push", "-q", "-u"]);
                git.Check(repo, ["stash", "pop", "-q"]);
            });

            Figures.Print("snapshot.take_median", Median(copied), "ms",
                $"10,000 files, 10 changed + 2 new, {spawns} git processes; DVC-style stash push -u && pop: {Median(stash):0} ms here; target <= 100 ms");
            Figures.Print("snapshot.take_p90", Percentile(copied, 90), "ms");
            foreach (var (step, times) in steps)
            {
                times.Sort();
                Figures.Print($"snapshot.step.{step.Replace(' ', '_')}_median", Median(times), "ms", "one git process of the snapshot");
            }
            Figures.Print("snapshot.take_read_tree_median", Median(readTree), "ms", "seeding the temporary index with read-tree HEAD: add -A rehashes all 10,000 files");
            Figures.Print("snapshot.git_process_median", Median(floor), "ms", "one `git rev-parse HEAD`: the floor of each of the processes above");
            Figures.Print("snapshot.stash_push_pop_median", Median(stash), "ms", "the peer: DVC stashes and restores the user's work");
            Figures.Print("snapshot.tree_and_index_unchanged", unchanged ? 1 : 0, "bool", "working tree bytes, .git/index bytes, HEAD, branch, stash list");
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>10,000 committed files in 100 folders, then 10 edited and 2 new.</summary>
    private static void Make(GitRunner git, string repo)
    {
        var env = new Dictionary<string, string?>
        {
            ["GIT_AUTHOR_NAME"] = "bench", ["GIT_COMMITTER_NAME"] = "bench",
            ["GIT_AUTHOR_EMAIL"] = "bench@localhost", ["GIT_COMMITTER_EMAIL"] = "bench@localhost",
        };
        git.Check(repo, ["init", "-q", "-b", "main"]);
        for (var d = 0; d < 100; d++)
        {
            var dir = Directory.CreateDirectory(Path.Combine(repo, "src", $"pkg{d:00}")).FullName;
            for (var f = 0; f < 100; f++)
                File.WriteAllText(Path.Combine(dir, $"module{f:00}.py"), $"# module {d}.{f}\ndef f{f}(x):\n    return x * {d * 100 + f}\n");
        }
        File.WriteAllText(Path.Combine(repo, ".gitignore"), "*.log\n");
        git.Check(repo, ["add", "-A"], env);
        git.Check(repo, ["commit", "-q", "-m", "10,000 files"], env);
        for (var i = 0; i < 10; i++) File.AppendAllText(Path.Combine(repo, "src", $"pkg{i * 10:00}", "module07.py"), "# changed\n");
        File.WriteAllText(Path.Combine(repo, "new_loss.py"), "def loss(): ...\n");
        File.WriteAllText(Path.Combine(repo, "src", "pkg50", "new_aug.py"), "flip = True\n");
        File.WriteAllText(Path.Combine(repo, "train.log"), "ignored\n");
    }

    /// <summary>The bytes of every file (but .git's), the index's bytes, HEAD, the branch and the stash, as one hash.</summary>
    private static string State(GitRunner git, string repo)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var file in Directory.EnumerateFiles(repo, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            if (file.Contains($"{Path.DirectorySeparatorChar}.git{Path.DirectorySeparatorChar}", StringComparison.Ordinal)) continue;
            sha.AppendData(Encoding.UTF8.GetBytes(file));
            sha.AppendData(File.ReadAllBytes(file));
        }
        sha.AppendData(File.ReadAllBytes(Path.Combine(repo, ".git", "index")));
        sha.AppendData(File.ReadAllBytes(Path.Combine(repo, ".git", "HEAD")));
        sha.AppendData(Encoding.UTF8.GetBytes(git.Check(repo, ["rev-parse", "HEAD"]).Stdout));
        sha.AppendData(Encoding.UTF8.GetBytes(git.Check(repo, ["stash", "list"]).Stdout));
        return Convert.ToHexString(sha.GetHashAndReset());
    }

    private static List<double> Time(int runs, Action<int> action)
    {
        var times = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            var clock = Stopwatch.StartNew();
            action(i);
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return times;
    }

    private static double Median(List<double> sorted) => Figures.Percentile(sorted, 50);

    private static double Percentile(List<double> sorted, double p) => Figures.Percentile(sorted, p);
}
