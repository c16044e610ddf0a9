using System.Text.Json.Nodes;
using Kiln.Control;
using Kiln.Kernel;
using Kiln.Modules;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Core.Tests;

/// <summary>A module written outside Kiln's kernel code joins the kernel through the seam and is steered like the built-in ones.</summary>
public sealed class PluggedModuleTests
{
    private sealed class Run : IDisposable
    {
        private readonly TempDir _dir = new("plugged");

        public Run(bool viaOptions = true)
        {
            Dir = new RunDir(_dir.Path);
            var options = new KernelOptions { Time = new ManualTimeProvider(), PollInterval = TimeSpan.Zero, Modules = viaOptions ? [Counter] : [] };
            Kernel = new KilnKernel(_dir.Path, options);
            if (!viaOptions) Kernel.AddModule(Counter);
        }

        public CounterModule Counter { get; } = new();
        public RunDir Dir { get; }
        public KilnKernel Kernel { get; }
        public KernelEnv Env { get; } = new() { Epoch = 0, Phase = "train" };

        public void Step(long step) => Kernel.Apply(step, "train_step_end", Env);

        public LedgerEntry Last() => Dir.Ledger().Last();

        public JsonObject? Dial(string key) =>
            JsonNode.Parse(File.ReadAllText(Dir.Files.ActuatorsPath))!["actuators"]!.AsArray()
                .Select(d => d!.AsObject()).SingleOrDefault(d => (string?)d["module"] == "counter" && (string?)d["key"] == key);

        public void Dispose()
        {
            Kernel.Dispose();
            _dir.Dispose();
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Its_commands_come_through_the_inbox_and_its_dials_show_in_the_actuators_file(bool viaOptions)
    {
        using var run = new Run(viaOptions);
        run.Dir.Set("counter", """{"value": 3}""");
        run.Step(0);
        var line = run.Last();
        Assert.Equal(("counter", "set_params", Decision.Applied), (line.Module, line.Op, line.Decision));
        Assert.Equal("""{"value":3}""", line.Payload!.ToJsonString());
        Assert.Equal(3, run.Counter.Value);
        var dial = run.Dial("value")!;
        Assert.Equal((3.0, 0.0, 10.0, "float"), ((double)dial["value"]!, (double)dial["min"]!, (double)dial["max"]!, (string)dial["type"]!));

        run.Dir.Set("counter", """{"value": 30, "colour": 1}""");
        run.Step(1);
        Assert.Equal((Decision.Rejected, "value: 30 above max 10; colour: unknown key (known: value)"), (run.Last().Decision, run.Last().Error));
        Assert.Same(run.Counter, run.Kernel.GetModule("counter"));
    }

    [Fact]
    public void Kiln_freeze_prod_shuts_it_out_like_any_external_change()
    {
        using var run = new Run();
        run.Step(0);
        var control = new RunControl(run.Dir.Path);
        control.SetFreeze(new FreezeState { Mode = FreezeState.Prod });
        run.Dir.Set("counter", """{"value": 5}""");
        run.Step(1);
        Assert.Equal(("counter", Decision.IgnoredFreeze), (run.Last().Module, run.Last().Decision));
        Assert.Equal(0, run.Counter.Value);

        control.SetFreeze(FreezeState.Unfrozen);
        run.Dir.Set("counter", """{"value": 5}""");
        run.Step(2);
        Assert.Equal(Decision.Applied, run.Last().Decision);
        Assert.Equal(5, run.Counter.Value);
    }

    [Fact]
    public void A_module_nobody_registered_is_rejected_naming_the_modules_the_run_has()
    {
        using var run = new Run();
        run.Dir.Send("""{"cid":"c1","module":"gauge","op":"set_params","params":{"x":1}}""");
        run.Dir.Send("""{"cid":"c2","module":"tune","op":"enable"}""");
        run.Step(0);
        var lines = run.Dir.Decisions();
        Assert.All(lines, l => Assert.Equal(Decision.Rejected, l.Decision));
        Assert.Equal("module: unknown module \"gauge\" (known: core, opt, loss, cb, counter)", lines[0].Error);
        Assert.Equal("module: tune is not available in this run (known: core, opt, loss, cb, counter)", lines[1].Error);
        Assert.Equal(["c1", "c2"], lines.Select(l => l.Cid));
    }

    [Fact]
    public void Its_kiln_yaml_section_sets_its_baseline_and_bounds()
    {
        using var run = new Run();
        run.Dir.WriteConfig("version: 1\ncounter:\n  params: {value: 2}\n  bounds: {value: [0, 4]}\n");
        run.Step(0);
        Assert.Equal(2, run.Counter.Value);
        Assert.Equal(4, (double)run.Dial("value")!["max"]!);
        run.Dir.Set("counter", """{"value": 5}""");
        run.Step(1);
        Assert.Equal("value: 5 above max 4", run.Last().Error);

        run.Dir.WriteConfig("version: 1\ncounter:\n  bounds: {speed: [0, 1]}\n");
        run.Step(2);
        Assert.Equal("kiln.yaml: counter.bounds.speed: unknown key (known: value)", run.Last().Error);
    }

    [Fact]
    public void Its_changes_are_exported_in_the_recipe_and_replayed_at_their_moment()
    {
        string recipe;
        using (var original = new Run())
        {
            original.Step(0);
            original.Dir.Set("counter", """{"value": 7}""");
            original.Step(3);
            original.Kernel.End(4, original.Env);
            var (entries, path, _) = new RunControl(original.Dir.Path).ExportRecipe();
            var entry = Assert.Single(entries);
            Assert.Equal(("counter", 3L), (entry.Module, entry.Step));
            recipe = File.ReadAllText(path);
        }
        using var replay = new Run();
        File.WriteAllText(replay.Dir.Files.RecipePath, recipe);
        new RunControl(replay.Dir.Path).Init();
        new RunControl(replay.Dir.Path).SetFreeze(new FreezeState { Mode = FreezeState.Replay, RecipePath = RunFiles.Recipe });
        for (var s = 0; s < 3; s++) replay.Step(s);
        Assert.Equal(0, replay.Counter.Value);
        replay.Step(3);
        Assert.Equal(7, replay.Counter.Value);
        Assert.Equal((Sources.Replay, Decision.Applied), (replay.Last().Source, replay.Last().Decision));
    }

    [Fact]
    public void A_listening_module_hears_safe_points_and_one_that_throws_is_failed_and_stops_listening()
    {
        using var run = new Run();
        run.Dir.Send("counter", "listen");
        run.Step(0);
        run.Step(1);
        Assert.Equal(["0:train_step_end", "1:train_step_end"], run.Counter.Heard);

        run.Counter.ThrowAt = 2;
        run.Step(2);
        run.Step(3);
        var line = run.Last();
        Assert.Equal(("counter", "safe_point", Sources.Kernel, Decision.Failed, 2L), (line.Module, line.Op, line.Source, line.Decision, line.Step));
        Assert.Contains("InvalidOperationException: counter broke at step 2", line.Error);
        Assert.Equal(3, run.Counter.Heard.Count);

        run.Counter.ReportAtClose = true;
        run.Kernel.End(3, run.Env);
        Assert.True(run.Counter.Closed);
        var closing = run.Last();
        Assert.Equal(("counter", "close", KilnKernel.EndEvent, Decision.Applied), (closing.Module, closing.Op, closing.Event, closing.Decision));
    }

    [Fact]
    public void Front_ends_read_the_modules_kiln_ships_and_the_kernel_reads_any()
    {
        var node = JsonNode.Parse("""{"module":"counter","op":"listen"}""")!;
        Assert.Equal("module: unknown module \"counter\" (known: core, cb, opt, loss, tune)", Assert.Throws<ProtocolException>(() => Command.FromJson(node)).Message);
        Assert.Equal("counter", Command.FromJson(node, modules: null).Module);
        Assert.Equal("counter", Command.FromJson(node, ["counter"]).Module);
    }

    [Fact]
    public void Names_must_be_unique_and_not_a_kiln_yaml_key()
    {
        using var run = new Run();
        Assert.Contains("already in this kernel", Assert.Throws<ArgumentException>(() => run.Kernel.AddModule(new CounterModule())).Message);
        Assert.Contains("a name other than version, kernel, callbacks", Assert.Throws<ArgumentException>(() => run.Kernel.AddModule(new CounterModule("kernel"))).Message);
    }
}

/// <summary>A module from outside the kernel: one dial, <c>value</c>, and an op that makes it listen to safe points.</summary>
public sealed class CounterModule(string name = "counter") : IKernelModule
{
    private static readonly Bounds DefaultBounds = new(0, 10);
    private IModuleHost? _host;
    private Bounds _bounds = DefaultBounds;

    public string Name { get; } = name;
    public double Value { get; private set; }
    public List<string> Heard { get; } = [];
    public long? ThrowAt { get; set; }
    public bool ReportAtClose { get; set; }
    public bool Closed { get; private set; }

    public void Attach(IModuleHost host) => _host = host;

    public OpResult Apply(Command command, OpContext context)
    {
        switch (command.Op)
        {
            case "listen":
                _host!.Listen(this, true);
                return OpResult.Applied();
            case "set_params":
                var errors = new List<string>();
                double? value = null;
                foreach (var (key, node) in command.Params ?? [])
                {
                    if (key != "value") { errors.Add($"{key}: unknown key (known: value)"); continue; }
                    var v = JsonValues.GetDouble(node, key);
                    if (_bounds.Check(key, v) is { } error) errors.Add(error);
                    else value = v;
                }
                if (value is null) return OpResult.Rejected(string.Join("; ", errors));
                Value = value.Value;
                return OpResult.Applied(new JsonObject { ["value"] = Value }, errors.Count > 0 ? string.Join("; ", errors) : null);
            default:
                return OpResult.Rejected($"op: unknown op \"{command.Op}\" for module {Name} (known: listen, set_params)");
        }
    }

    public void Describe(List<ActuatorState> into, long step) =>
        into.Add(new ActuatorState { Module = Name, Id = "main", Key = "value", Type = ActuatorState.Float, Min = _bounds.Min, Max = _bounds.Max, Value = Value });

    public void SetBounds(IReadOnlyDictionary<string, Bounds> bounds)
    {
        foreach (var key in bounds.Keys)
        {
            if (key != "value") throw new ProtocolException($"{Name}.bounds.{key}: unknown key (known: value)");
        }
        _bounds = bounds.GetValueOrDefault("value", DefaultBounds);
    }

    public void OnSafePoint(string evt, KernelEnv env)
    {
        Heard.Add($"{env.Step}:{evt}");
        if (env.Step == ThrowAt) throw new InvalidOperationException($"counter broke at step {env.Step}");
    }

    public void Close(long? step, KernelEnv? env)
    {
        Closed = true;
        if (ReportAtClose) _host!.Report(new Command { Module = Name, Op = "close" }, OpResult.Applied(notes: $"counted to {Value}"), step, KilnKernel.EndEvent, env);
    }
}
