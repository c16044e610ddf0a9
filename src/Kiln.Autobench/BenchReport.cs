using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kiln.IO;

namespace Kiln.Autobench;

/// <summary>A finished benchmark: its rows, written as a Markdown table, a JSON file and one PNG of validation curves per task.</summary>
public sealed class BenchReport(BenchOptions options, IReadOnlyList<ConditionSummary> rows, IReadOnlyDictionary<string, string> sources)
{
    public IReadOnlyList<ConditionSummary> Rows { get; } = rows;
    public IReadOnlyDictionary<string, string> Sources { get; } = sources;
    public BenchOptions Options { get; } = options;

    public const string TableFile = "bench.md";
    public const string JsonFile = "bench.json";
    public static string PlotFile(string task) => $"val_{task}.png";

    public void Write(string dir)
    {
        Directory.CreateDirectory(dir);
        AtomicFile.WriteAllText(Path.Combine(dir, TableFile), Table(), durable: false);
        AtomicFile.WriteAllText(Path.Combine(dir, JsonFile), ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }), durable: false);
        foreach (var task in Rows.Select(r => r.Task).Distinct())
            BenchPlot.Write(Path.Combine(dir, PlotFile(task)), task, Rows.Where(r => r.Task == task && r.Runs.Count > 0).ToList());
    }

    /// <summary>One Markdown table per task; accuracies in percent.</summary>
    public string Table()
    {
        var c = CultureInfo.InvariantCulture;
        var s = new StringBuilder();
        foreach (var task in Rows.Select(r => r.Task).Distinct())
        {
            var first = Rows.First(r => r.Task == task && r.Runs.Count > 0);
            var target = Options.Tasks?.FirstOrDefault(t => t.Name == task)?.Target ?? Bench.Tasks(Options).First(t => t.Name == task).Target;
            s.Append(c, $"### {task} ({Sources.GetValueOrDefault(task, "?")}; {first.Runs.Count} seeds; {first.Runs[0].Compute} steps; target {target * 100:0.#} %)\n\n");
            s.Append("| condition | start | final val acc % | best val acc % | steps to target (reached) | wall s | compute (steps/seed) | actions | note |\n");
            s.Append("|---|---|---|---|---|---|---|---|---|\n");
            foreach (var r in Rows.Where(r => r.Task == task))
            {
                if (r.NotRun is not null)
                {
                    s.Append(c, $"| {r.Condition} | — | not run | | | | | | {r.NotRun} |\n");
                    continue;
                }
                var steps = r.MedianStepsToTarget is { } m ? m.ToString("0", c) : "—";
                var failed = r.Runs.Count(x => x.Status != "completed");
                var note = string.Join("; ", new[] { r.Note, failed > 0 ? $"{failed} run(s) {string.Join(", ", r.Runs.Where(x => x.Status != "completed").Select(x => x.Status).Distinct())}" : null }.Where(n => n is not null));
                s.Append(c, $"| {r.Condition} | {r.Start} | {r.FinalMean * 100:0.00} ± {r.FinalStd * 100:0.00} | {r.BestMean * 100:0.00} | {steps} ({r.Reached}/{r.Runs.Count}) | {r.WallMean:0.0} | {r.Compute:0} | {r.Actions} | {note} |\n");
            }
            s.Append('\n');
        }
        return s.ToString();
    }

    public JsonObject ToJson() => new()
    {
        ["suite"] = Options.Suite,
        ["quick"] = Options.Quick,
        ["seeds"] = Options.Seeds,
        ["datasets"] = new JsonObject([.. Sources.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))]),
        ["rows"] = new JsonArray([.. Rows.Select(r => (JsonNode)r.ToJson())]),
        ["runs"] = new JsonArray([.. Rows.SelectMany(r => r.Runs).Select(r => (JsonNode)r.ToJson())]),
    };
}
