using System.CommandLine;
using Kiln.Autobench;
using Kiln.Cli.Output;

namespace Kiln.Cli.Commands;

/// <summary>
/// <c>kiln bench run|eval</c> (seed 000's <c>hotcb bench</c>): the autopilot benchmark — tasks started with the learning
/// rate 10× off, trained under each condition at equal step budgets, 3 seeds — as a table, JSON and a plot (docs/bench.md).
/// </summary>
internal static class BenchCommands
{
    public static Command Build(Cli cli)
    {
        var bench = new Command("bench", "Benchmark the autopilot against the methods a user would pick instead (docs/bench.md)")
        {
            Suite(cli, BenchOptions.RunSuite, "Synthetic tasks, seconds per run (for CI)"),
            Suite(cli, BenchOptions.EvalSuite, "Fashion-MNIST with the built-in MLP, with a tuned cosine schedule as the reference"),
        };
        return bench;
    }

    private static Command Suite(Cli cli, string suite, string description)
    {
        var quick = new Option<bool>("--quick") { Description = "A shorter budget (minutes for eval)" };
        var output = new Option<string?>("--out") { Description = "Where to write bench.md, bench.json, the plots and the runs (default: bench-<suite>)" };
        var seeds = new Option<int>("--seeds") { Description = "Seeds per condition", DefaultValueFactory = _ => 3 };
        var dataDir = new Option<string?>("--data-dir") { Description = "Where Fashion-MNIST lives (default: Debian's location)" };
        var only = new Option<string[]>("--only")
        {
            Description = "Run only these conditions (repeatable, or comma-separated): " + string.Join(", ", Bench.ConditionNames),
            AllowMultipleArgumentsPerToken = true,
        };
        var command = new Command(suite, description) { quick, output, seeds, dataDir, only };
        cli.Handle(command, c =>
        {
            var n = c.Get(seeds);
            if (n is < 1 or > 20) throw new UsageException($"--seeds: between 1 and 20, got {n}");
            string[]? names = c.Get(only) is { Length: > 0 } given ? [.. given.SelectMany(g => g.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))] : null;
            if (names?.FirstOrDefault(x => !Bench.ConditionNames.Contains(x)) is { } unknown)
                throw new UsageException($"--only: unknown condition \"{unknown}\" (known: {string.Join(", ", Bench.ConditionNames)})");
            var options = new BenchOptions
            {
                Suite = suite, Quick = c.Get(quick), OutDir = Path.GetFullPath(c.Get(output) ?? $"bench-{suite}"), Seeds = n, DataDir = c.Get(dataDir), Only = names,
            };
            var report = Bench.Run(options, line => c.Out.Line(line));
            c.Out.Line();
            c.Out.Line(report.Table());
            c.Out.Line($"written: {Path.Combine(options.OutDir, BenchReport.TableFile)}, {BenchReport.JsonFile}, "
                + string.Join(", ", report.Rows.Select(r => r.Task).Distinct().Select(BenchReport.PlotFile)));
            return 0;
        });
        return command;
    }
}
