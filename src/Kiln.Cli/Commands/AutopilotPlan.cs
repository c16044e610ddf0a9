using System.CommandLine;
using Kiln.Autopilot.Ai;
using Kiln.Autopilot.Engine;
using Kiln.Autopilot.Rules;
using Kiln.Cli.Output;

namespace Kiln.Cli.Commands;

/// <summary>
/// seed 000's <c>--autopilot</c>, <c>--key-metric</c> and <c>--ai-*</c> on <c>launch</c>, <c>demo</c> and <c>serve</c>,
/// with <c>--autopilot-rules</c> for a rules file: what the autopilot will do, checked before anything starts, and the
/// autopilot itself following a run while the command runs (docs/autopilot.md).
/// </summary>
internal sealed record AutopilotPlan(string Mode, IReadOnlyList<Rule> Rules, AiSettings? Ai)
{
    public sealed record Flags(Option<string> Mode, Option<string> KeyMetric, Option<string> RulesFile,
        Option<string> AiModel, Option<string> AiBaseUrl, Option<double> AiBudget, Option<long> AiCadence)
    {
        public IEnumerable<Option> All => [Mode, KeyMetric, RulesFile, AiModel, AiBaseUrl, AiBudget, AiCadence];
    }

    public static Flags Options()
    {
        var mode = new Option<string>("--autopilot")
        {
            Description = "off; suggest (propose each action for you to accept or reject on the dashboard); auto (apply high- and medium-confidence actions, propose the rest); ai_suggest, ai_auto (a language model decides, the rules raise alerts for it)",
            DefaultValueFactory = _ => AutopilotMode.Off,
        };
        mode.AcceptOnlyFromAmong(AutopilotMode.All);
        var keyMetric = new Option<string>("--key-metric") { Description = "The metric to improve: the AI autopilot's goal, and the validation metric the default rules watch for a plateau", DefaultValueFactory = _ => "val_loss" };
        var rules = new Option<string>("--autopilot-rules") { Description = "A rules file (YAML or JSON) instead of the default rules (docs/autopilot.md)" };
        var defaults = new AiSettings();
        var model = new Option<string>("--ai-model") { Description = "The AI autopilot's model", DefaultValueFactory = _ => defaults.Model };
        var baseUrl = new Option<string>("--ai-base-url") { Description = $"An OpenAI-compatible endpoint (a local server needs no key; OpenAI's takes {AiSettings.KeyVariable} or OPENAI_API_KEY)", DefaultValueFactory = _ => defaults.BaseUrl };
        var budget = new Option<double>("--ai-budget") { Description = "US dollars the AI autopilot may spend on this run", DefaultValueFactory = _ => defaults.BudgetUsd };
        var cadence = new Option<long>("--ai-cadence") { Description = "Steps between the AI autopilot's regular check-ins (alerts call it sooner)", DefaultValueFactory = _ => defaults.Cadence };
        return new Flags(mode, keyMetric, rules, model, baseUrl, budget, cadence);
    }

    /// <summary>The plan the flags give, or null when the autopilot is off; a bad rules file or an unavailable mode is refused here.</summary>
    public static AutopilotPlan? From(Context c, Flags flags)
    {
        var mode = c.Get(flags.Mode) ?? AutopilotMode.Off;
        var file = c.Get(flags.RulesFile);
        if (mode == AutopilotMode.Off)
        {
            if (file is not null) throw new UsageException("--autopilot-rules: give --autopilot too");
            return null;
        }
        var keyMetric = c.Get(flags.KeyMetric)!;
        var rules = file is not null ? RuleSet.Load(Path.GetFullPath(file)) : RuleSet.Defaults(valLoss: keyMetric);
        if (!AutopilotMode.IsAi(mode)) return new AutopilotPlan(mode, rules, null);
        var ai = new AiSettings
        {
            Model = c.Get(flags.AiModel)!, BaseUrl = c.Get(flags.AiBaseUrl)!, ApiKey = AiSettings.KeyFromEnvironment(), KeyMetric = keyMetric,
            BudgetUsd = c.Get(flags.AiBudget) is var b and > 0 && double.IsFinite(b) ? b : throw new UsageException("--ai-budget: must be a number of US dollars > 0"),
            Cadence = c.Get(flags.AiCadence) is var n and > 0 ? n : throw new UsageException("--ai-cadence: must be > 0 steps"),
        };
        // The endpoint and key are checked now: a run should not start with an autopilot that cannot call.
        Cli.Usage(() => AiClients.Create(ai));
        return new AutopilotPlan(mode, rules, ai);
    }

    /// <summary>Follows the run in <paramref name="runDir"/> until the handle is disposed (it then judges the last metrics and stops).</summary>
    public IDisposable Follow(string runDir, Terminal terminal)
    {
        var stop = new CancellationTokenSource();
        var session = new AutopilotSession(runDir, Mode, Rules, ai: Ai is null ? null : new AiPilot(runDir, Ai, AiClients.Create(Ai)));
        var task = AutopilotRunner.RunAsync(session, stop.Token, line => terminal.Line(line));
        terminal.Line($"autopilot: {Mode}, {Rules.Count(r => r.Enabled)} rules{(Ai is null ? "" : $", {Ai.Model} at {Ai.BaseUrl} (budget {Ai.BudgetUsd} USD, every {Ai.Cadence} steps)")}, following {runDir}");
        return new Following(stop, task);
    }

    private sealed class Following(CancellationTokenSource stop, Task task) : IDisposable
    {
        public void Dispose()
        {
            stop.Cancel();
            task.GetAwaiter().GetResult();
            stop.Dispose();
        }
    }
}
