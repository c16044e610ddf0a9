using Kiln.Kernel;
using Kiln.Protocol;

namespace Kiln.Core.Tests;

/// <summary>kiln.yaml edits as commands: the reconciler is a pure function of the old and the new file.</summary>
public sealed class ConfigReconcilerTests
{
    private static readonly string[] Sections = ["opt", "loss", "counter"];

    private static KilnConfig Yaml(string text) => KilnConfig.FromJson(YamlJson.Parse("version: 1\n" + text), Sections);

    private static List<string> Commands(string before, string after) =>
        ConfigReconciler.Plan(Yaml(before), Yaml(after)).Steps.Select(Show).ToList();

    private static string Show(ConfigStep s) =>
        $"{s.Command.Module} {s.Command.Op} {s.Command.Id}{(s.Command.Params is { } p ? " " + p.ToJsonString() : "")}{(s.Command.Target is { } t ? " " + t.Path : "")}{(s.IfLoaded ? " (if loaded)" : "")}";

    private const string Counter = """
        callbacks:
          c:
            target: {kind: type, path: Kiln.Testing.CountingCallback}
            init: {every: 2}
            params: {every: 3, label: a}
        """;

    [Fact]
    public void The_same_file_twice_asks_for_nothing()
    {
        const string yaml = "kernel: {poll_interval_ms: 1}\nopt: {params: {lr: 0.1}, bounds: {lr: [0, 1]}}\n" + Counter;
        var plan = ConfigReconciler.Plan(Yaml(yaml), Yaml(yaml));
        Assert.Null(plan.Settings);
        Assert.Empty(plan.Bounds);
        Assert.Empty(plan.Steps);
    }

    [Fact]
    public void The_baseline_is_every_value_the_file_sets()
    {
        var plan = ConfigReconciler.Plan(KilnConfig.Empty, Yaml("kernel: {debounce_steps: 4}\nopt: {params: {lr: 0.1}}\nloss: {enabled: false, params: {cls_w: 2}}\n" + Counter));
        Assert.Equal(new KernelSettings(null, 4, null), plan.Settings);
        Assert.Empty(plan.Bounds);
        Assert.Equal(
            [
                """opt set_params main {"lr":0.1}""",
                "loss disable main",
                """loss set_params main {"cls_w":2}""",
                "cb load c Kiln.Testing.CountingCallback",
                """cb set_params c {"every":3,"label":"a"} (if loaded)""",
            ],
            plan.Steps.Select(Show));
    }

    [Fact]
    public void Kernel_settings_that_change_are_the_new_settings()
    {
        var plan = ConfigReconciler.Plan(Yaml("kernel: {poll_interval_ms: 5}\n"), Yaml("kernel: {poll_interval_ms: 5, auto_disable_on_error: false}\n"));
        Assert.Equal(new KernelSettings(5, null, false), plan.Settings);
        Assert.Empty(plan.Steps);
        Assert.Equal(KernelSettings.None, ConfigReconciler.Plan(Yaml("kernel: {debounce_steps: 2}\n"), Yaml("")).Settings);
        Assert.Equal(new KernelSettings(null, null, null, WaitForDiskSpace: true),
            ConfigReconciler.Plan(Yaml(""), Yaml("kernel: {wait_for_disk_space: true}\n")).Settings);
    }

    [Fact]
    public void Only_params_that_changed_are_set_and_a_new_handle_id_gets_them_all()
    {
        Assert.Equal(["""opt set_params main {"weight_decay":0.01,"momentum":0.9}"""],
            Commands("opt: {params: {lr: 0.1, weight_decay: 0}}\n", "opt: {params: {lr: 0.1, weight_decay: 0.01, momentum: 0.9}}\n"));
        Assert.Equal(["""opt set_params disc {"lr":0.1}"""],
            Commands("opt: {params: {lr: 0.1}}\n", "opt: {id: disc, params: {lr: 0.1}}\n"));
        Assert.Empty(Commands("opt: {params: {lr: 0.1, momentum: 0.9}}\n", "opt: {params: {lr: 0.1}}\n"));   // a removed key keeps its value
    }

    [Fact]
    public void Enable_flags_switch_the_handle_and_a_removed_section_switches_it_back_on()
    {
        Assert.Equal(["loss disable main"], Commands("loss: {params: {cls_w: 1}}\n", "loss: {enabled: false, params: {cls_w: 1}}\n"));
        Assert.Equal(["loss enable main"], Commands("loss: {enabled: false}\n", "loss: {enabled: true}\n"));
        Assert.Equal(["loss enable main"], Commands("loss: {enabled: false}\n", ""));
        Assert.Equal(["opt disable disc"], Commands("opt: {enabled: true}\n", "opt: {id: disc, enabled: false}\n"));
    }

    [Fact]
    public void Bounds_that_change_go_to_their_module_and_removed_ones_restore_the_defaults()
    {
        var plan = ConfigReconciler.Plan(Yaml("opt: {bounds: {lr: [0, 1]}}\nloss: {bounds: {cls_w: [0, 5]}}\n"), Yaml("opt: {bounds: {lr: [0, 0.5]}}\nloss: {bounds: {cls_w: [0, 5]}}\ncounter: {bounds: {value: [0, 4]}}\n"));
        Assert.Equal(["opt", "counter"], plan.Bounds.Select(b => b.Module));
        Assert.Equal(new Bounds(0, 0.5), plan.Bounds[0].Bounds["lr"]);
        Assert.Empty(plan.Steps);

        var removed = ConfigReconciler.Plan(Yaml("opt: {bounds: {lr: [0, 1]}}\n"), KilnConfig.Empty);
        var change = Assert.Single(removed.Bounds);
        Assert.Equal("opt", change.Module);
        Assert.Empty(change.Bounds);
    }

    [Fact]
    public void A_plugged_in_modules_section_becomes_its_commands()
    {
        Assert.Equal(["""counter set_params main {"value":3}"""], Commands("", "counter: {params: {value: 3}}\n"));
        Assert.Equal(["counter disable main"], Commands("counter: {params: {value: 3}}\n", "counter: {enabled: false, params: {value: 3}}\n"));
    }

    [Fact]
    public void Callbacks_added_removed_and_changed_load_unload_and_reload()
    {
        Assert.Equal(["cb unload c"], Commands(Counter, ""));
        Assert.Equal(["cb load c Kiln.Testing.CountingCallback", """cb set_params c {"every":3,"label":"a"} (if loaded)"""], Commands("", Counter));
        Assert.Equal(["cb load c Kiln.Testing.CountingCallback", """cb set_params c {"every":3,"label":"a"} (if loaded)"""],
            Commands(Counter, Counter.Replace("every: 2", "every: 5")));                       // new init: a fresh instance gets every param
        Assert.Equal(["cb load c Other.Callback", """cb set_params c {"every":3,"label":"a"} (if loaded)"""],
            Commands(Counter, Counter.Replace("Kiln.Testing.CountingCallback", "Other.Callback")));
        Assert.Equal(["cb disable c"], Commands(Counter, Counter + "\n    enabled: false\n"));
        Assert.Equal(["""cb set_params c {"label":"b"} (if loaded)"""], Commands(Counter, Counter.Replace("label: a", "label: b")));
    }

    [Fact]
    public void Steps_come_in_a_fixed_order_modules_then_callbacks()
    {
        Assert.Equal(
            [
                """opt set_params main {"lr":0.2}""",
                """loss set_params main {"cls_w":3}""",
                """counter set_params main {"value":1}""",
                "cb unload c",
            ],
            Commands("opt: {params: {lr: 0.1}}\n" + Counter, "counter: {params: {value: 1}}\nloss: {params: {cls_w: 3}}\nopt: {params: {lr: 0.2}}\n"));
    }
}
