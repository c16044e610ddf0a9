using Kiln.Autopilot.Actions;
using Kiln.Autopilot.Engine;
using Kiln.Autopilot.Rules;
using Kiln.Protocol;

namespace Kiln.Autopilot.Tests;

/// <summary>The conditions, the cooldown, and rules files.</summary>
public sealed class RuleTests
{
    private static AutopilotEngine Engine(params Rule[] rules) => new(rules);

    private static Rule R(string when, string metric = "loss", int window = 5, double threshold = 0, double epsilon = 0.005, long cooldown = 10) => new()
    {
        Id = when, When = when, Metric = metric, Window = window, Threshold = threshold, Epsilon = epsilon, Cooldown = cooldown,
        Versus = "val_loss", Action = new AutopilotAction(AutopilotAction.LrMult, 0.5),
    };

    private static List<string> Feed(AutopilotEngine e, string metric, IEnumerable<double> values, long from = 0)
    {
        var fired = new List<string>();
        var step = from;
        foreach (var v in values)
        {
            e.Observe(step, metric, v);
            fired.AddRange(e.Fire().Select(f => $"{step}:{f.Rule.Id}"));
            step++;
        }
        return fired;
    }

    [Fact]
    public void A_plateau_fires_once_its_window_is_flat_and_then_judges_only_what_followed()
    {
        var e = Engine(R(Conditions.Plateau, window: 5, cooldown: 1));
        // Falling, then flat from step 4: the window of five flat points is full at step 8.
        var fired = Feed(e, "loss", [1.0, 0.8, 0.6, 0.4, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]);
        Assert.Equal(["8:plateau"], fired);
        // After firing it needs five new flat points: steps 9 to 13.
        Assert.Equal(["13:plateau"], Feed(e, "loss", [0.3], from: 13));
    }

    [Fact]
    public void A_divergence_a_spike_and_a_bound_say_why_they_fire()
    {
        var e = Engine(R(Conditions.Divergence, window: 3, threshold: 0.5));
        e.Observe(0, "loss", 1); e.Observe(1, "loss", 1.2); e.Observe(2, "loss", 1.4); e.Observe(3, "loss", 1.6);
        Assert.Equal("loss rose from 1 to 1.6 over 3 points (divergence: more than 0.5)", e.Fire().Single().Rationale);

        e = Engine(R(Conditions.Spike, window: 3, threshold: 0.3));
        Feed(e, "loss", [1, 1, 1]);
        e.Observe(3, "loss", 1.5);
        Assert.Equal("loss jumped to 1.5 from a mean of 1 over the 3 points before (spike: more than 0.3)", e.Fire().Single().Rationale);

        e = Engine(R(Conditions.Above, metric: "grad_norm", threshold: 10));
        e.Observe(0, "grad_norm", 9);
        Assert.Empty(e.Fire());
        e.Observe(1, "grad_norm", double.NaN);
        Assert.Equal("grad_norm is NaN", e.Fire().Single().Rationale);
    }

    [Fact]
    public void Overfitting_compares_the_training_loss_with_the_validation_loss()
    {
        var e = Engine(R(Conditions.Overfitting, threshold: 0.5));
        e.Observe(0, "loss", 0.4);
        e.Observe(0, "val_loss", 0.6);
        Assert.Empty(e.Fire());
        e.Observe(1, "loss", 0.2);
        Assert.Equal("loss / val_loss = 0.2 / 0.6 = 0.3333 (overfitting: under 0.5)", e.Fire().Single().Rationale);
    }

    [Fact]
    public void A_rule_waits_its_cooldown_and_a_disabled_rule_never_fires()
    {
        var e = Engine(R(Conditions.Above, threshold: 0, cooldown: 3), R(Conditions.Below, threshold: 100) with { Id = "off", Enabled = false });
        var fired = Feed(e, "loss", Enumerable.Repeat(1.0, 8));
        Assert.Equal(["0:above", "3:above", "6:above"], fired);
    }

    [Fact]
    public void Rules_files_replace_or_extend_the_defaults()
    {
        using var dir = new Kiln.Testing.TempDir("rules");
        var file = Path.Combine(dir.Path, "rules.yaml");
        File.WriteAllText(file, """
            defaults: true
            rules:
              - id: plateau_val
                when: plateau
                metric: val_acc
                window: 30
                epsilon: 0.001
                action: {lr_mult: 0.3}
              - id: late
                expr: "step > 1000 && val_loss > 1.2 * min(val_loss, 200)"
                action: {loss_weight: {aux: 0.1}}
                confidence: low
            """);
        var rules = RuleSet.Load(file);
        Assert.Equal(["plateau_train", "plateau_val", "spike", "divergence", "overfitting", "grad_explosion", "late"], rules.Select(r => r.Id));
        Assert.Equal(("val_acc", 30, 0.3), (rules[1].Metric, rules[1].Window, rules[1].Action.Number!.Value));
        Assert.Equal(AutopilotAction.LossWeight, rules[^1].Action.Kind);

        File.WriteAllText(file, "rules: [{id: only, when: above, metric: loss, threshold: 3, action: {cb_disable: ema}}]");
        Assert.Equal("only", RuleSet.Load(file).Single().Id);
    }

    [Theory]
    [InlineData("rules: [{id: a, when: sideways, metric: m, action: {lr_mult: 0.5}}]", "rules[0] (a).when: unknown condition \"sideways\"")]
    [InlineData("rules: [{id: a, when: above, metric: m, action: {lr_mult: 0.5}}]", "rules[0] (a).threshold: missing")]
    [InlineData("rules: [{id: a, when: plateau, metric: m, action: {lr_mult: -1}}]", "rules[0] (a).action.lr_mult: must be a number > 0")]
    [InlineData("rules: [{id: a, when: plateau, metric: m, action: {explode: 1}}]", "rules[0] (a).action: unknown action \"explode\"")]
    [InlineData("rules: [{id: a, expr: \"loss >\", action: {lr_mult: 0.5}}]", "rules[0] (a).expr: column 7")]
    [InlineData("rules: [{id: a, when: plateau, metric: m, colour: red, action: {lr_mult: 0.5}}]", "rules[0]: unknown key \"colour\"")]
    [InlineData("rules: [{id: a, when: plateau, metric: m, confidence: total, action: {lr_mult: 0.5}}]", "rules[0] (a).confidence: \"total\"")]
    [InlineData("rules: [{id: a, when: plateau, metric: m, action: {lr_mult: 1}}, {id: a, when: plateau, metric: m, action: {lr_mult: 1}}]", "rules[1].id: \"a\" is given twice")]
    [InlineData("rulez: []", "unknown key \"rulez\"")]
    public void A_bad_rules_file_is_refused_naming_the_rule_and_the_key(string yaml, string message)
    {
        using var dir = new Kiln.Testing.TempDir("rules");
        var file = Path.Combine(dir.Path, "rules.yaml");
        File.WriteAllText(file, yaml);
        var ex = Assert.Throws<ProtocolException>(() => RuleSet.Load(file));
        Assert.Contains(message, ex.Message);
        Assert.StartsWith(file, ex.Message);
    }

    [Fact]
    public void The_defaults_are_seed_000_s()
    {
        var d = RuleSet.Defaults(valLoss: "val_nll").ToDictionary(r => r.Id);
        Assert.Equal(("val_nll", 20, 0.005, 0.5), (d["plateau_val"].Metric, d["plateau_val"].Window, d["plateau_val"].Epsilon, d["plateau_val"].Action.Number!.Value));
        Assert.Equal((5, 0.3, 0.1), (d["spike"].Window, d["spike"].Threshold, d["spike"].Action.Number!.Value));
        Assert.Equal((10, 0.5, 0.1), (d["divergence"].Window, d["divergence"].Threshold, d["divergence"].Action.Number!.Value));
        Assert.Equal((0.5, AutopilotAction.WdMult, 2.0, Confidences.Low), (d["overfitting"].Threshold, d["overfitting"].Action.Kind, d["overfitting"].Action.Number!.Value, d["overfitting"].Confidence));
        Assert.Equal(("grad_norm", 10.0), (d["grad_explosion"].Metric, d["grad_explosion"].Threshold));
        Assert.All(d.Values, r => Assert.Equal(10, r.Cooldown));
    }
}
