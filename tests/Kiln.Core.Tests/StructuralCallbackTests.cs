using System.Globalization;
using System.Text.Json.Nodes;
using Kiln.Modules;
using Kiln.Modules.Callbacks;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Core.Tests;

/// <summary>Callbacks with seed 001's shape (Id, Handle, SetParams) that do not implement IKilnCallback, loaded as types.</summary>
public sealed class StructuralCallbackTests
{
    private static void Load(Harness h, string id, string type, string init = "{}") =>
        h.Run.Send($$"""{"module":"cb","op":"load","id":"{{id}}","target":{"kind":"type","path":"Kiln.Core.Tests","symbol":"{{type}}"},"init":{{init}},"enabled":true}""");

    private static T Target<T>(Harness h, string id) => (T)Assert.IsType<StructuralCallback>(h.Kernel.GetCallback(id)).Target;

    [Theory]
    [InlineData(nameof(EnvShaped), "attach")]
    [InlineData(nameof(DictShaped), "attach:train")]
    [InlineData(nameof(ReadOnlyShaped), null)]
    public void A_class_of_the_callback_shape_loads_runs_takes_params_and_unloads(string type, string? attach)
    {
        using var h = new Harness();
        Load(h, "s", type, """{"every": 2}""");
        for (var s = 0; s < 4; s++) h.Step(s);
        var cb = Target<ISeen>(h, "s");
        h.Run.Set("cb", """{"every": 3}""", id: "s");
        for (var s = 4; s < 7; s++) h.Step(s);
        h.Run.Send("cb", "unload", "s");
        h.Step(7);

        var expected = new List<string>();
        if (attach is not null) expected.Add(attach);
        expected.AddRange(["0:train_step_end", "2:train_step_end", "every=3", "6:train_step_end"]);
        if (type != nameof(ReadOnlyShaped)) expected.Add("close");
        Assert.Equal(expected, cb.Seen);
        Assert.Null(h.Kernel.GetCallback("s"));
        Assert.Equal(
            new[] { ("load", Decision.Applied), ("set_params", Decision.Applied), ("unload", Decision.Applied) },
            h.Run.Decisions().Select(l => (l.Op!, l.Decision)));
        Assert.Equal("s", h.Run.Decisions()[0].Id);
    }

    [Fact]
    public void The_dictionary_env_shows_the_kernel_keys_and_the_trainers_items()
    {
        using var h = new Harness();
        var log = new List<string>();
        var emitted = new List<(long, string, double)>();
        h.Env.Log = log.Add;
        h.Env.MetricsSink = (step, values) => emitted.AddRange(values.Select(v => (step, v.Name, v.Value)));
        h.Env.Loss = 0.25;
        h.Env.MaxSteps = 100;
        h.Env.Metrics["val_loss"] = 0.5;
        h.Env.Items["batch_x"] = "batch";
        Load(h, "probe", nameof(EnvProbe));
        h.Step(5);

        var probe = Target<EnvProbe>(h, "probe");
        var seen = Assert.Single(probe.Snapshots);
        Assert.Equal(KernelEnvView.KernelKeys.Append("batch_x"), seen.Keys);
        Assert.Equal(new object?[] { 5L, "train_step_end", 0, "train", 100L, 0.25 }, new[] { seen["step"], seen["event"], seen["epoch"], seen["phase"], seen["max_steps"], seen["loss"] });
        Assert.Equal(0.5, ((IDictionary<string, double>)seen["metrics"]!)["val_loss"]);
        Assert.Equal(h.Dir, seen["run_dir"]);
        Assert.Same(h.Env.Items, seen["items"]);
        Assert.Equal("batch", seen["batch_x"]);
        Assert.Equal(["[probe] step 5"], log);
        Assert.Equal([(5L, "probe_metric", 1.5)], emitted);
        Assert.Equal("probe asked", h.Env.StopRequest);
        Assert.Equal("written by the callback", h.Env.Items["note"]);
        Assert.Equal("NotSupportedException: env['step'] is the kernel's and read-only; other keys are the trainer's items and can be set", probe.WriteError);
    }

    [Fact]
    public void Dictionary_params_arrive_as_plain_values()
    {
        using var h = new Harness();
        Load(h, "p", nameof(ParamsProbe));
        h.Run.Set("cb", """{"n": 3, "x": 0.5, "whole": 2.0, "big": 1e3, "s": "a", "b": true, "none": null, "list": [1, "two"], "nested": {"k": -4}}""", id: "p");
        h.Step(0);
        var given = Assert.Single(Target<ParamsProbe>(h, "p").Given);
        Assert.Equal(new object?[] { 3L, 0.5, 2.0, 1000.0, "a", true, null }, new[] { given["n"], given["x"], given["whole"], given["big"], given["s"], given["b"], given["none"] });
        Assert.Equal(new object?[] { 1L, "two" }, Assert.IsType<List<object?>>(given["list"]));
        Assert.Equal(-4L, Assert.IsType<Dictionary<string, object?>>(given["nested"])["k"]);
    }

    [Theory]
    [InlineData("""{"every": "often"}""", "params: FormatException: ")]
    [InlineData("""{"every": 0}""", "params: ArgumentException: every: must be >= 1, got 0")]
    public void A_bad_value_for_a_dictionary_set_params_is_rejected_and_the_callback_stays(string parameters, string error)
    {
        using var h = new Harness();
        Load(h, "d", nameof(DictShaped), """{"every": 1}""");
        h.Run.Set("cb", parameters, id: "d");
        h.Step(0);
        h.Step(1);
        var set = Assert.Single(h.Run.Decisions(), l => l.Op == "set_params");
        Assert.Equal(Decision.Rejected, set.Decision);
        Assert.StartsWith(error, set.Error);
        Assert.True(h.Kernel.IsCallbackEnabled("d"));
        Assert.Contains("1:train_step_end", Target<DictShaped>(h, "d").Seen);
    }

    [Theory]
    [InlineData(nameof(Thrower))]
    [InlineData(nameof(DictThrower))]
    public void What_a_structural_handle_throws_is_ledgered_as_the_users_exception(string type)
    {
        using var h = new Harness();
        Load(h, "t", type);
        h.Step(0);
        h.Step(1);
        Assert.False(h.Kernel.IsCallbackEnabled("t"));
        var failure = Assert.Single(h.Run.Ledger(), l => l.Op == "handle");
        Assert.Equal((Decision.Failed, "handle(train_step_end) threw InvalidOperationException: boom at step 0"), (failure.Decision, failure.Error));
        Assert.StartsWith("System.InvalidOperationException: boom at step 0", failure.Traceback);
        Assert.Contains($"at Kiln.Core.Tests.{type}.Handle(", failure.Traceback);
        Assert.Contains("StructuralCallbackTests.cs:line ", failure.Traceback);
        Assert.DoesNotContain("TargetInvocationException", failure.Traceback);
    }

    [Theory]
    [InlineData(typeof(NoShape), "has no Id property or field, has no Handle(string evt, KernelEnv env) method and has no SetParams(JsonObject parameters) method")]
    [InlineData(typeof(NoHandle), "has no Handle(string evt, KernelEnv env) method")]
    [InlineData(typeof(WrongHandle), "has Handle(int step), which does not fit Handle(string evt, env) with env KernelEnv, IDictionary<string, object?> or IReadOnlyDictionary<string, object?>, returning void")]
    [InlineData(typeof(ValueHandle), "has bool Handle(string evt, KernelEnv env), which does not fit Handle(string evt, env) with env KernelEnv, IDictionary<string, object?> or IReadOnlyDictionary<string, object?>, returning void")]
    [InlineData(typeof(SnakeCase), "has no Handle(string evt, KernelEnv env) method (it has handle; the names are case-sensitive) and has no SetParams(JsonObject parameters) method (it has set_params; the names are case-sensitive)")]
    [InlineData(typeof(PrivateHandle), "has no Handle(string evt, KernelEnv env) method (Handle must be public and not static)")]
    [InlineData(typeof(IntId), "has an Id of type int, not string")]
    [InlineData(typeof(WrongParams), "has SetParams(string json), which does not fit SetParams(params) with params JsonObject, IDictionary<string, object?> or IReadOnlyDictionary<string, object?>, returning void")]
    [InlineData(typeof(WrongClose), "has Close(bool now), which does not fit Close(), returning void")]
    public void A_class_that_is_not_a_callback_is_told_what_to_add(Type type, string problems)
    {
        var shape = CallbackShape.Of(type);
        Assert.False(shape.IsCallback);
        Assert.Equal($"{type.FullName} {problems}; {CallbackShape.Requirement}", shape.Error);
        Assert.Equal("a callback implements IKilnCallback or has Id, Handle(string, env) and SetParams(params) (see docs/callbacks.md)", CallbackShape.Requirement);
    }

    [Theory]
    [InlineData(nameof(NoHandle), "target: Kiln.Core.Tests.NoHandle has no Handle(string evt, KernelEnv env) method; a callback implements IKilnCallback or has Id, Handle(string, env) and SetParams(params) (see docs/callbacks.md)")]
    [InlineData(nameof(AttachThrower), "InvalidOperationException: cannot attach")]
    public void A_load_that_fails_is_a_failed_line_with_what_to_add_or_the_users_exception(string type, string error)
    {
        using var h = new Harness();
        Load(h, "n", type);
        h.Step(0);
        var load = Assert.Single(h.Run.Decisions());
        Assert.Equal((Decision.Failed, error), (load.Decision, load.Error));
        Assert.Null(h.Kernel.GetCallback("n"));
    }

    [Fact]
    public void The_env_overload_is_preferred_and_an_interface_callback_is_not_wrapped()
    {
        var both = CallbackShape.Adapt(new BothOverloads());
        var env = new KernelEnv();
        both.Handle("e", env);
        Assert.Equal(["env"], ((BothOverloads)((StructuralCallback)both).Target).Seen);
        var counting = new CountingCallback("c");
        Assert.Same(counting, CallbackShape.Adapt(counting));
        Assert.True(CallbackShape.Of(typeof(CountingCallback)).Implements);
        Assert.Equal("field-id", CallbackShape.Adapt(new ReadOnlyShaped()).Id);
    }
}

public interface ISeen
{
    List<string> Seen { get; }
}

public sealed class EnvShaped(string id, int every = 1) : ISeen
{
    public string Id { get; } = id;
    public int Every { get; private set; } = every;
    public List<string> Seen { get; } = [];
    public void SetParams(JsonObject p)
    {
        if (p["every"] is { } e) Every = (int)e;
        Seen.Add($"every={Every}");
    }
    public void Handle(string evt, KernelEnv env)
    {
        if (env.Step % Every == 0) Seen.Add($"{env.Step}:{evt}");
    }
    public void OnAttach(KernelEnv env) => Seen.Add("attach");
    public void Close() => Seen.Add("close");
}

public sealed class DictShaped(string id, int every = 1) : ISeen
{
    public readonly string Id = id;
    public int Every { get; private set; } = every;
    public List<string> Seen { get; } = [];
    public void SetParams(IDictionary<string, object?> kw)
    {
        if (!kw.TryGetValue("every", out var e)) return;
        var every = Convert.ToInt32(e, CultureInfo.InvariantCulture);
        Every = every >= 1 ? every : throw new ArgumentException($"every: must be >= 1, got {every}");
        Seen.Add($"every={Every}");
    }
    public void Handle(string evt, IDictionary<string, object?> env)
    {
        var step = (long)env["step"]!;
        if (step % Every == 0) Seen.Add($"{step}:{evt}");
    }
    public void OnAttach(IDictionary<string, object?> env) => Seen.Add("attach:" + env["phase"]);
    public void Close() => Seen.Add("close");
}

public sealed class ReadOnlyShaped(int every = 1) : ISeen
{
    public string Id = "field-id";
    public int Every { get; private set; } = every;
    public List<string> Seen { get; } = [];
    public void SetParams(IReadOnlyDictionary<string, object?> kw)
    {
        if (kw.TryGetValue("every", out var e)) Every = (int)(long)e!;
        Seen.Add($"every={Every}");
    }
    public void Handle(string evt, IReadOnlyDictionary<string, object?> env)
    {
        if ((long)env["step"]! % Every == 0) Seen.Add($"{env["step"]}:{env["event"]}");
    }
}

public sealed class EnvProbe(string id)
{
    public string Id { get; } = id;
    public List<IReadOnlyDictionary<string, object?>> Snapshots { get; } = [];
    public string? WriteError { get; private set; }
    public void SetParams(JsonObject p) { }
    public void Handle(string evt, IDictionary<string, object?> env)
    {
        Snapshots.Add(new Dictionary<string, object?>(env));
        ((Action<string>)env["log"]!)($"[{Id}] step {env["step"]}");
        ((Action<string, double>)env["emit"]!)("probe_metric", 1.5);
        ((Action<string>)env["request_stop"]!)("probe asked");
        env["note"] = "written by the callback";
        try { env["step"] = 0L; }
        catch (NotSupportedException ex) { WriteError = $"{ex.GetType().Name}: {ex.Message}"; }
    }
}

public sealed class ParamsProbe(string id)
{
    public string Id { get; } = id;
    public List<IDictionary<string, object?>> Given { get; } = [];
    public void SetParams(IDictionary<string, object?> kw) => Given.Add(kw);
    public void Handle(string evt, KernelEnv env) { }
}

public sealed class Thrower(string id)
{
    public string Id { get; } = id;
    public void SetParams(JsonObject p) { }
    public void Handle(string evt, KernelEnv env) => throw new InvalidOperationException("boom at step " + env.Step);
}

public sealed class DictThrower(string id)
{
    public string Id { get; } = id;
    public void SetParams(IDictionary<string, object?> p) { }
    public void Handle(string evt, IReadOnlyDictionary<string, object?> env) => throw new InvalidOperationException("boom at step " + env["step"]);
}

public sealed class AttachThrower(string id)
{
    public string Id { get; } = id;
    public void SetParams(JsonObject p) { }
    public void Handle(string evt, KernelEnv env) { }
    public void OnAttach(KernelEnv env) => throw new InvalidOperationException("cannot attach");
}

public sealed class BothOverloads
{
    public string Id => "both";
    public List<string> Seen { get; } = [];
    public void SetParams(JsonObject p) { }
    public void Handle(string evt, IDictionary<string, object?> env) => Seen.Add("dict");
    public void Handle(string evt, KernelEnv env) => Seen.Add("env");
}

public sealed class NoShape;

public sealed class NoHandle
{
    public string Id => "n";
    public void SetParams(JsonObject p) { }
}

public sealed class WrongHandle
{
    public string Id => "w";
    public void SetParams(JsonObject p) { }
    public void Handle(int step) { }
}

public sealed class ValueHandle
{
    public string Id => "v";
    public void SetParams(JsonObject p) { }
    public bool Handle(string evt, KernelEnv env) => true;
}

#pragma warning disable CA1707, IDE1006 // seed 001's Python names, on purpose
public sealed class SnakeCase
{
    public string Id => "s";
    public void set_params(JsonObject p) { }
    public void handle(string evt, KernelEnv env) { }
}
#pragma warning restore CA1707, IDE1006

public sealed class PrivateHandle
{
    public string Id => "p";
    public void SetParams(JsonObject p) { }
    private void Handle(string evt, KernelEnv env) { }
}

public sealed class IntId
{
    public int Id => 1;
    public void SetParams(JsonObject p) { }
    public void Handle(string evt, KernelEnv env) { }
}

public sealed class WrongParams
{
    public string Id => "w";
    public void SetParams(string json) { }
    public void Handle(string evt, KernelEnv env) { }
}

public sealed class WrongClose
{
    public string Id => "w";
    public void SetParams(JsonObject p) { }
    public void Handle(string evt, KernelEnv env) { }
    public void Close(bool now) { }
}
