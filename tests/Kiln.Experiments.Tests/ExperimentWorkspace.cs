using Kiln.Testing;

namespace Kiln.Experiments.Tests;

/// <summary>
/// A temporary workspace holding <c>experiments/demo.cs</c> (two cached stages that note each call in <c>calls.txt</c>)
/// and <c>params/basic.cs</c> (the sets "small" and "big"), and the published kiln run in it.
/// </summary>
internal sealed class ExperimentWorkspace : IDisposable
{
    public const string Params = """
        /// Two parameter sets
        using Kiln.Experiments;
        public sealed record Knobs : ExperimentParams { public int A { get; init; } }
        public static class BasicParams
        {
            public static IEnumerable<Knobs> GetParams() => [new Knobs { Name = "small", A = 2 }, new Knobs { Name = "big", A = 5 }];
        }
        """;

    public const string Experiment = """
        /// Load then scale
        using Kiln.Experiments;
        using Kiln.Experiments.Caching;
        using Kiln.Experiments.Pipeline;
        public static class Demo
        {
            [Stage("data", Cachers = [typeof(JsonCacher)])]
            public static int[] Load(Record r) { File.AppendAllText("calls.txt", "load\n"); return [.. Enumerable.Range(0, ((Knobs)r.Params!).A)]; }
            [Stage("scaled", Cachers = [typeof(JsonCacher)])]
            public static double[] Scale(Record r, int[] data) { File.AppendAllText("calls.txt", "scale\n"); return [.. data.Select(Helper)]; }
            static double Helper(int x) => x + 0.5;
            public static void Run(IReadOnlyList<Knobs> ps, ExperimentManager manager)
            {
                foreach (var p in ps) new Record(manager, p).Run(Load).Run(Scale);
            }
        }
        """;

    public ExperimentWorkspace(string name)
    {
        Dir = new TempDir(name);
        File.WriteAllText(Dir.File("kiln.json"), "{}");
        Directory.CreateDirectory(Dir.File("experiments"));
        Directory.CreateDirectory(Dir.File("params"));
        File.WriteAllText(Dir.File("params/basic.cs"), Params);
        File.WriteAllText(Dir.File("experiments/demo.cs"), Experiment);
    }

    public TempDir Dir { get; }

    public KilnProcess.Result Kiln(params string[] args) => KilnProcess.Run(Dir.Path, TimeSpan.FromMinutes(5), null, args);

    /// <summary>The stage calls noted since the last look (the note is then cleared).</summary>
    public string[] Calls()
    {
        var path = Dir.File("calls.txt");
        var calls = File.Exists(path) ? File.ReadAllLines(path) : [];
        File.Delete(path);
        return calls;
    }

    public void Dispose() => Dir.Dispose();
}
