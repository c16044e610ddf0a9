using Kiln.Autopilot.Ai;
using Kiln.Autobench.Pbt;
using Kiln.Modules.Opt;
using Kiln.Train.Optim;

namespace Kiln.Autobench;

/// <summary>
/// <c>kiln bench run|eval</c>: every task × condition × seed at the task's step budget, each run a run directory under
/// <c>OUT/runs</c>; then the table (<c>bench.md</c>), the JSON (<c>bench.json</c>) and a plot of the validation curves
/// per task (<c>val_&lt;task&gt;.png</c>). The mis-set starts are 10× above and below the task's good Adam rate;
/// Schedule-Free runs at its published defaults; <c>eval</c> adds a cosine schedule tuned on a 5-point grid.
/// </summary>
public static class Bench
{
    /// <summary>The grid around the good rate the tuned cosine schedule picks from.</summary>
    public static readonly double[] CosineGrid = [0.1, 0.3, 1, 3, 10];

    /// <summary>Schedule-Free's warmup, as a fraction of the budget (the authors' AlgoPerf setting).</summary>
    public const double ScheduleFreeWarmup = 0.05;

    /// <summary>The tune module as the bench runs it: lr only, factors in [1/4, 4], a verdict at every evaluation, none in the last fifth.</summary>
    public static System.Text.Json.Nodes.JsonObject TuneSettings => new()
    {
        ["mode"] = "active", ["keys.lr.bounds"] = new System.Text.Json.Nodes.JsonArray(0.25, 4), ["until"] = 0.8,
    };

    public static IReadOnlyList<BenchTask> Tasks(BenchOptions options) => options.Tasks ?? (options.Suite == BenchOptions.RunSuite
        ? [BenchTasks.Blobs(options.Quick)]
        : [BenchTasks.FashionMlp(options.Quick, options.DataDir), BenchTasks.FashionCnn(options.Quick, options.DataDir)]);

    /// <summary>Every condition's name, for <c>--only</c>.</summary>
    public static readonly string[] ConditionNames = ["fixed", "reduce_lr_on_plateau", "schedule_free", "autopilot", "pbt-4", "tune", "cosine_tuned", "ai_autopilot"];

    /// <summary>The rows every task gets, in table order.</summary>
    /// <param name="ai">The AI autopilot's endpoint; without one its rows are listed as not run.</param>
    public static IReadOnlyList<Condition> Conditions(BenchTask task, AiSettings? ai = null)
    {
        Condition Each(string name, string start, BenchSetup setup, Func<string, IBenchController>? controller = null) => new(name, start, setup, controller);
        var high = task.GoodLr * 10;
        var low = task.GoodLr / 10;
        return
        [
            Each("fixed", Condition.High, new(BenchSetup.Adam, high)),
            Each("fixed", Condition.Low, new(BenchSetup.Adam, low)),
            Each("reduce_lr_on_plateau", Condition.High, new(BenchSetup.Adam, high), dir => new PlateauController(dir)),
            Each("reduce_lr_on_plateau", Condition.Low, new(BenchSetup.Adam, low), dir => new PlateauController(dir)),
            Each("schedule_free", Condition.Default, new(BenchSetup.ScheduleFree, ScheduleFreeAdamW.DefaultLr, Warmup: (long)(task.Steps * ScheduleFreeWarmup))),
            Each("autopilot", Condition.High, new(BenchSetup.Adam, high), dir => new AutopilotController(dir, task.Steps)),
            Each("autopilot", Condition.Low, new(BenchSetup.Adam, low), dir => new AutopilotController(dir, task.Steps)),
            new("pbt-4", Condition.High, new(BenchSetup.Adam, high), Population: 4),
            new("pbt-4", Condition.Low, new(BenchSetup.Adam, low), Population: 4),
            Each("tune", Condition.High, new(BenchSetup.Adam, high, Tune: TuneSettings)),
            Each("tune", Condition.Low, new(BenchSetup.Adam, low, Tune: TuneSettings)),
            .. ai is null ? [] : (Condition[])
            [
                Each("ai_autopilot", Condition.High, new(BenchSetup.Adam, high), dir => new AiAutopilotController(dir, ForTask(ai, task))),
                Each("ai_autopilot", Condition.Low, new(BenchSetup.Adam, low), dir => new AiAutopilotController(dir, ForTask(ai, task))),
            ],
        ];
    }

    /// <summary>The AI autopilot's pace for a task: its first call at the first validation, a regular one every other.</summary>
    private static AiSettings ForTask(AiSettings ai, BenchTask task) => ai with { FirstStep = task.EvalEvery - 1, MinGap = task.EvalEvery, Cadence = 2 * task.EvalEvery };

    /// <summary>The methods of the issue this build cannot run, and why.</summary>
    public static IReadOnlyList<Condition> NotRun(AiSettings? ai = null) => ai is not null ? [] :
    [
        Condition.Skipped("ai_autopilot", $"no endpoint configured (--ai-base-url, or {AiSettings.KeyVariable} or OPENAI_API_KEY for OpenAI's)"),
    ];

    public static BenchReport Run(BenchOptions options, Action<string>? log = null)
    {
        log ??= _ => { };
        var runs = Path.Combine(Path.GetFullPath(options.OutDir), "runs");
        var seeds = Enumerable.Range(1, options.Seeds).Select(i => (long)i).ToArray();
        var rows = new List<ConditionSummary>();
        var sources = new Dictionary<string, string>();
        foreach (var task in Tasks(options))
        {
            var data = task.Data();
            sources[task.Name] = data.Source;
            List<RunResult> RunAll(Condition c) => [.. seeds.Select(seed =>
            {
                var label = $"{task.Name}-{c.Name}-{Slug(c.Start)}-s{seed}";
                var r = c.Population > 0
                    ? PbtRunner.Run(task, data, c, seed, Path.Combine(runs, label))
                    : ConditionRunner.Run(task, data, c, seed, Path.Combine(runs, label), log);
                log($"{label}: {r.Status}, final {r.FinalVal:0.0000}, best {r.BestVal:0.0000}, {r.WallSeconds:0.0} s, {r.Actions} actions{(r.Error is null ? "" : $" ({r.Error})")}");
                return r;
            })];
            foreach (var c in Conditions(task, options.Ai).Where(c => options.Runs(c.Name)))
            {
                var note = c.Population > 0 ? $"{c.Population} members in lockstep, exploit/explore every {PbtRunner.IntervalFor(task)} steps; compute counts every member's steps" : null;
                rows.Add(new ConditionSummary { Task = task.Name, Condition = c.Name, Start = c.Start, Runs = RunAll(c), Note = note });
            }
            if (options.Suite == BenchOptions.EvalSuite && options.Runs("cosine_tuned")) rows.Add(TunedCosine(task, RunAll));
            rows.AddRange(NotRun(options.Ai).Where(c => options.Runs(c.Name)).Select(c => new ConditionSummary { Task = task.Name, Condition = c.Name, Start = c.Start, NotRun = c.NotRun }));
        }
        var report = new BenchReport(options, rows, sources);
        report.Write(options.OutDir);
        return report;
    }

    /// <summary>Cosine decay from each rate of the grid; the row is the rate whose mean final accuracy is best, its compute the whole grid's.</summary>
    private static ConditionSummary TunedCosine(BenchTask task, Func<Condition, List<RunResult>> runAll)
    {
        var schedule = new CosineSchedule(task.Steps, 0, 0);
        var grid = CosineGrid.Select(m => runAll(new Condition("cosine", $"lr={task.GoodLr * m:g3}", new(BenchSetup.Adam, task.GoodLr * m, schedule)))).ToList();
        var best = grid.MaxBy(g => g.Average(r => double.IsFinite(r.FinalVal) ? r.FinalVal : 0))!;
        return new ConditionSummary
        {
            Task = task.Name, Condition = "cosine_tuned", Start = best[0].Start, Runs = best,
            ExtraCompute = (CosineGrid.Length - 1) * task.Steps,
            Note = "best of " + string.Join(", ", grid.Select(g => $"{g[0].Lr:g3}: {g.Average(r => r.FinalVal):0.0000}")),
        };
    }

    private static string Slug(string start) => start switch
    {
        Condition.High => "high",
        Condition.Low => "low",
        _ => new string([.. start.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' ? c : '_')]),
    };
}
