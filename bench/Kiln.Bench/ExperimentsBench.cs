using System.Diagnostics;
using Kiln.Experiments;
using Kiln.Experiments.Caching;
using Kiln.Experiments.Hashing;
using Kiln.Experiments.Pipeline;

namespace Kiln.Bench;

/// <summary>
/// Issue 14's figure: 100 parameter sets × 5 JSON-cached stages, fully cached re-run — in-process (map pass, keys,
/// metadata checks) and whole process (the published kiln), without and with the HTML report. curifactory 0.20.2 cannot
/// be installed here (no PyPI); its figures measured on this machine kind are quoted: 1.4 s whole process, 4.5 s with
/// its report.
/// </summary>
internal static class ExperimentsBench
{
    public sealed record Knobs : ExperimentParams { public int A { get; init; } }

    [Stage("s1", Cachers = [typeof(JsonCacher)])] public static int[] S1(Record r) => [((Knobs)r.Params!).A];
    [Stage("s2", Cachers = [typeof(JsonCacher)])] public static int[] S2(Record r, int[] s1) => [.. s1, 2];
    [Stage("s3", Cachers = [typeof(JsonCacher)])] public static int[] S3(Record r, int[] s2) => [.. s2, 3];
    [Stage("s4", Cachers = [typeof(JsonCacher)])] public static int[] S4(Record r, int[] s3) => [.. s3, 4];
    [Stage("s5", Cachers = [typeof(JsonCacher)])] public static int S5(Record r, int[] s4) => s4.Sum();

    public static void Run(string kiln, int runs)
    {
        var dir = Directory.CreateTempSubdirectory("kiln-bench-experiments").FullName;
        try
        {
            InProcess(Path.Combine(dir, "cache"), runs);
            WholeProcess(kiln, dir, runs);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static void InProcess(string cache, int runs)
    {
        // Two phases: declaring (records, stage binding, parameter hashes) and Execute (keys, code hashes, metadata checks).
        (ExperimentManager Manager, double Declare, double Execute) Once(CodeHasher? code)
        {
            var clock = Stopwatch.StartNew();
            var m = new ExperimentManager(new ExperimentOptions { ExperimentName = "bench", CacheDirectory = cache, Code = code });
            for (var i = 0; i < 100; i++) new Record(m, new Knobs { Name = $"p{i}", A = i }).Run(S1).Run(S2).Run(S3).Run(S4).Run(S5);
            var declared = clock.Elapsed.TotalMilliseconds;
            m.Execute();
            return (m, declared, clock.Elapsed.TotalMilliseconds - declared);
        }
        Once(null);
        // A fresh CodeHasher per run, as in a new process: the IL of the five stage methods is read every time.
        var total = new List<double>();
        var declare = new List<double>();
        var execute = new List<double>();
        for (var i = 0; i < runs + 2; i++)
        {
            var (m, d, e) = Once(CodeHasher.ForUserAssemblies(typeof(ExperimentsBench).Assembly));
            total.Add(d + e);
            declare.Add(d);
            execute.Add(e);
            if (m.Nodes.Any(n => n.Status != StageStatus.Cached)) throw new InvalidOperationException("not fully cached");
        }
        total.Sort();
        declare.Sort();
        execute.Sort();
        Figures.Print("experiments.cached_rerun_in_process", total[total.Count / 2], "ms",
            $"100 sets x 5 JSON-cached stages, median of {total.Count} (best {total[0]:0.0} ms; declare {declare[declare.Count / 2]:0.0} ms, execute {execute[execute.Count / 2]:0.0} ms); target <= 20 ms");
    }

    private static void WholeProcess(string kiln, string dir, int runs)
    {
        var root = Path.Combine(dir, "ws");
        Directory.CreateDirectory(Path.Combine(root, "experiments"));
        File.WriteAllText(Path.Combine(root, "kiln.json"), "{}");
        File.WriteAllText(Path.Combine(root, "experiments", "bench.cs"), """
            using Kiln.Experiments;
            using Kiln.Experiments.Caching;
            using Kiln.Experiments.Pipeline;
            public sealed record Knobs : ExperimentParams { public int A { get; init; } }
            public static class Bench
            {
                public static IEnumerable<Knobs> GetParams() => [.. Enumerable.Range(0, 100).Select(i => new Knobs { Name = $"p{i}", A = i })];
                [Stage("s1", Cachers = [typeof(JsonCacher)])] public static int[] S1(Record r) => [((Knobs)r.Params!).A];
                [Stage("s2", Cachers = [typeof(JsonCacher)])] public static int[] S2(Record r, int[] s1) => [.. s1, 2];
                [Stage("s3", Cachers = [typeof(JsonCacher)])] public static int[] S3(Record r, int[] s2) => [.. s2, 3];
                [Stage("s4", Cachers = [typeof(JsonCacher)])] public static int[] S4(Record r, int[] s3) => [.. s3, 4];
                [Stage("s5", Cachers = [typeof(JsonCacher)])] public static int S5(Record r, int[] s4) => s4.Sum();
                public static void Run(IReadOnlyList<Knobs> ps, ExperimentManager m) { foreach (var p in ps) new Record(m, p).Run(S1).Run(S2).Run(S3).Run(S4).Run(S5); }
            }
            """);
        var cwd = Directory.GetCurrentDirectory();
        Directory.SetCurrentDirectory(root);
        try
        {
            ProcessRuns.Measure(kiln, "experiment", "bench", "--quiet"); // computes and compiles once
            foreach (var (label, extra, target, peer) in new[]
            {
                ("experiments.cached_rerun_process", "--no-report", "0.2 s", "curifactory 0.20.2: 1.4 s"),
                ("experiments.cached_rerun_process_with_report", "--quiet", "0.6 s", "curifactory 0.20.2: 4.5 s"),
            })
            {
                var measured = Enumerable.Range(0, runs).Select(_ => ProcessRuns.Measure(kiln, "experiment", "bench", "--quiet", extra)).ToList();
                var times = measured.Select(r => r.Seconds).Order().ToList();
                var cpu = measured.Select(r => r.CpuSeconds).Order().ToList();
                var median = times[times.Count / 2];
                var peerSeconds = peer.EndsWith("1.4 s", StringComparison.Ordinal) ? 1.4 : 4.5;
                Figures.Print(label, median, "s",
                    $"median of {runs} (best {times[0]:0.000} s; CPU median {cpu[cpu.Count / 2]:0.000} s, best {cpu[0]:0.000} s); {peer} (quoted, ratio {peerSeconds / median:0.0}x); target <= {target}");
            }
        }
        finally
        {
            Directory.SetCurrentDirectory(cwd);
        }
    }
}
