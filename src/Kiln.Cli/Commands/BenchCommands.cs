using Kiln.Autopilot.Ai;
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
        var aiBaseUrl = new Option<string?>("--ai-base-url") { Description = $"Run the AI autopilot against this OpenAI-compatible endpoint (with {AiSettings.KeyVariable} or OPENAI_API_KEY set, OpenAI's is used when not given)" };
        var aiModel = new Option<string>("--ai-model") { Description = "The AI autopilot's model", DefaultValueFactory = _ => new AiSettings().Model };
        var aiBudget = new Option<double>("--ai-budget") { Description = "USD each AI-steered run may spend", DefaultValueFactory = _ => new AiSettings().BudgetUsd };
        var command = new Command(suite, description) { quick, output, seeds, dataDir, only, aiBaseUrl, aiModel, aiBudget };
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
                Ai = Ai(c.Get(aiBaseUrl), c.Get(aiModel)!, c.Get(aiBudget)),
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

    /// <summary>The AI autopilot's settings when an endpoint is given or a key is set; null otherwise.</summary>
    private static AiSettings? Ai(string? baseUrl, string model, double budget)
    {
        var key = AiSettings.KeyFromEnvironment();
        if (baseUrl is null && key is null) return null;
        if (!(budget > 0) || !double.IsFinite(budget)) throw new UsageException($"--ai-budget: a positive number of USD, got {budget}");
        var settings = new AiSettings { BaseUrl = baseUrl ?? AiSettings.DefaultBaseUrl, ApiKey = key, Model = model, BudgetUsd = budget };
        try { AiClients.Check(settings); }
        catch (Kiln.Protocol.ProtocolException ex) { throw new UsageException(ex.Message); }
        return settings;
    }
}
