using System.CommandLine;
using Kiln.Autopilot.Engine;
using Kiln.Autopilot.Rules;
using Kiln.Cli.Output;

namespace Kiln.Cli.Commands;

/// <summary>
/// seed 000's <c>--autopilot</c> and <c>--key-metric</c> on <c>launch</c>, <c>demo</c> and <c>serve</c>, with
/// <c>--autopilot-rules</c> for a rules file: what the autopilot will do, checked before anything starts, and the
/// autopilot itself following a run while the command runs (docs/autopilot.md).
/// </summary>
internal sealed record AutopilotPlan(string Mode, IReadOnlyList<Rule> Rules)
{
    public sealed record Flags(Option<string> Mode, Option<string> KeyMetric, Option<string> RulesFile)
    {
        public IEnumerable<Option> All => [Mode, KeyMetric, RulesFile];
    }

    public static Flags Options()
    {
        var mode = new Option<string>("--autopilot")
        {
            Description = "off; suggest (propose each action for you to accept or reject on the dashboard); auto (apply high- and medium-confidence actions, propose the rest)",
            DefaultValueFactory = _ => AutopilotMode.Off,
        };
        mode.AcceptOnlyFromAmong(AutopilotMode.All);
        var keyMetric = new Option<string>("--key-metric") { Description = "The validation metric the default rules watch for a plateau (and the overfitting rule compares)", DefaultValueFactory = _ => "val_loss" };
        var rules = new Option<string>("--autopilot-rules") { Description = "A rules file (YAML or JSON) instead of the default rules (docs/autopilot.md)" };
        return new Flags(mode, keyMetric, rules);
    }

    /// <summary>The plan the flags give, or null when the autopilot is off; a bad rules file or an unavailable mode is refused here.</summary>
    public static AutopilotPlan? From(Context c, Flags flags)
    {
        var mode = c.Get(flags.Mode) ?? AutopilotMode.Off;
        if (AutopilotMode.IsAi(mode))
            throw new UsageException($"--autopilot {mode}: the AI autopilot is not part of this version of kiln; use suggest or auto");
        var file = c.Get(flags.RulesFile);
        if (mode == AutopilotMode.Off)
        {
            if (file is not null) throw new UsageException("--autopilot-rules: give --autopilot suggest or auto too");
            return null;
        }
        var rules = file is not null ? RuleSet.Load(Path.GetFullPath(file)) : RuleSet.Defaults(valLoss: c.Get(flags.KeyMetric)!);
        return new AutopilotPlan(mode, rules);
    }

    /// <summary>Follows the run in <paramref name="runDir"/> until the handle is disposed (it then judges the last metrics and stops).</summary>
    public IDisposable Follow(string runDir, Terminal terminal)
    {
        var stop = new CancellationTokenSource();
        var session = new AutopilotSession(runDir, Mode, Rules);
        var task = AutopilotRunner.RunAsync(session, stop.Token, line => terminal.Line(line));
        terminal.Line($"autopilot: {Mode}, {Rules.Count(r => r.Enabled)} rules, following {runDir}");
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
