using System.Text.Json.Nodes;

namespace Kiln.Protocol;

/// <summary>
/// Kernel settings from <c>kiln.yaml</c>'s <c>kernel:</c> section; unset values keep the code's options.
/// <paramref name="WaitForDiskSpace"/> is the run's, not the kernel's: on a full disk, pause training until space returns
/// (<see cref="Kiln.Runs.RunOptions.WaitForDiskSpace"/>).
/// </summary>
public sealed record KernelSettings(double? PollIntervalMs, int? DebounceSteps, bool? AutoDisableOnError, double? CallbackTimeBudgetS = null, bool? WaitForDiskSpace = null)
{
    public static readonly KernelSettings None = new(null, null, null);
}

/// <summary>A callback declared in <c>kiln.yaml</c>; <paramref name="TimeBudgetS"/>: its own time budget, else the kernel's.</summary>
public sealed record CallbackSpec(CallbackTarget Target, JsonObject? Init, bool Enabled, JsonObject? Params, double? TimeBudgetS = null);

/// <summary>A module's section (<c>opt:</c>, <c>loss:</c>, …): initial values, bounds, and whether the handle is on.</summary>
public sealed record ModuleSpec(string Id, bool Enabled, JsonObject Params, IReadOnlyDictionary<string, Bounds> Bounds)
{
    public static ModuleSpec Empty(string id) => new(id, true, [], new Dictionary<string, Bounds>());
}

/// <summary>
/// <c>kiln.yaml</c>: <c>version: 1</c>; <c>kernel:</c> settings; <c>callbacks:</c> by id with target, init, enabled, params;
/// a section per module (<c>opt:</c>, <c>loss:</c>, and those of modules plugged into the kernel) with id, enabled, params and bounds.
/// </summary>
public sealed record KilnConfig
{
    /// <summary>The module sections of a kernel with the built-in modules.</summary>
    public static readonly string[] DefaultSections = ["opt", "loss"];

    public static readonly KilnConfig Empty = new();

    /// <summary>The longest poll interval <c>kernel.poll_interval_ms</c> may ask for: an hour.</summary>
    public const double MaxPollIntervalMs = 3_600_000;

    public KernelSettings Kernel { get; init; } = KernelSettings.None;
    public IReadOnlyList<(string Id, CallbackSpec Spec)> Callbacks { get; init; } = [];

    /// <summary>The module sections, in the order the kernel lists its modules; an absent section is <see cref="ModuleSpec.Empty"/>.</summary>
    public IReadOnlyList<(string Module, ModuleSpec Spec)> Modules { get; init; } = [];

    /// <summary>The section of <paramref name="module"/>, or an empty one.</summary>
    public ModuleSpec Section(string module)
    {
        foreach (var (name, spec) in Modules) if (name == module) return spec;
        return ModuleSpec.Empty("main");
    }

    public static KilnConfig Load(string path)
    {
        var node = YamlJson.ParseFile(path);
        try { return FromJson(node); }
        catch (ProtocolException ex) { throw ex.InFile(path); }
    }

    public static KilnConfig FromJson(JsonNode? node) => FromJson(node, DefaultSections);

    /// <summary>Reads the file of a kernel whose modules take the sections <paramref name="sections"/>; any other top-level key is an error.</summary>
    public static KilnConfig FromJson(JsonNode? node, IReadOnlyList<string> sections)
    {
        if (node is null) return Empty;
        var o = JsonValues.GetObject(node, "kiln.yaml");
        JsonValues.RejectUnknownKeys(o, ["version", "kernel", "callbacks", .. sections], "");
        if (o["version"] is null) throw new ProtocolException("version: missing (write version: 1)");
        if (JsonValues.GetLong(o["version"], "version") != 1) throw new ProtocolException($"version: only version 1 is known, got {JsonValues.Show(o["version"])}");
        return new KilnConfig
        {
            Kernel = o["kernel"] is null ? KernelSettings.None : ParseKernel(o["kernel"]),
            Callbacks = o["callbacks"] is null ? [] : ParseCallbacks(o["callbacks"]),
            Modules = [.. sections.Select(s => (s, o[s] is null ? ModuleSpec.Empty("main") : ParseModule(o[s], s)))],
        };
    }

    private static KernelSettings ParseKernel(JsonNode? node)
    {
        var k = JsonValues.GetObject(node, "kernel");
        JsonValues.RejectUnknownKeys(k, ["poll_interval_ms", "debounce_steps", "auto_disable_on_error", "callback_time_budget_s", "wait_for_disk_space"], "kernel: ");
        double? poll = k["poll_interval_ms"] is null ? null : JsonValues.GetDouble(k["poll_interval_ms"], "kernel.poll_interval_ms");
        if (poll is < 0 or > MaxPollIntervalMs)
            throw new ProtocolException($"kernel.poll_interval_ms: must be from 0 to {MaxPollIntervalMs} (an hour), got {JsonValues.ShowAsWritten(k["poll_interval_ms"])}");
        int? debounce = k["debounce_steps"] is null ? null : JsonValues.GetInt(k["debounce_steps"], "kernel.debounce_steps", min: 1);
        bool? auto = k["auto_disable_on_error"] is null ? null : JsonValues.GetBool(k["auto_disable_on_error"], "kernel.auto_disable_on_error");
        double? budget = k["callback_time_budget_s"] is null ? null
            : TimeBudget.Check(JsonValues.GetDouble(k["callback_time_budget_s"], "kernel.callback_time_budget_s"), "kernel.callback_time_budget_s");
        bool? waitForSpace = k["wait_for_disk_space"] is null ? null : JsonValues.GetBool(k["wait_for_disk_space"], "kernel.wait_for_disk_space");
        return new KernelSettings(poll, debounce, auto, budget, waitForSpace);
    }

    private static List<(string, CallbackSpec)> ParseCallbacks(JsonNode? node)
    {
        var list = new List<(string, CallbackSpec)>();
        foreach (var (id, value) in JsonValues.GetObject(node, "callbacks"))
        {
            var where = $"callbacks.{id}";
            var c = JsonValues.GetObject(value, where);
            JsonValues.RejectUnknownKeys(c, ["target", "init", "enabled", "params", "time_budget_s"], where + ": ");
            if (c["target"] is null) throw new ProtocolException($"{where}.target: missing ({{kind, path, symbol}})");
            var target = CallbackTarget.FromJson(c["target"], where + ".target");
            if (target.Kind == CallbackTarget.InstanceKind) throw new ProtocolException($"{where}.target.kind: instances are registered in code");
            list.Add((id, new CallbackSpec(
                target,
                c["init"] is null ? null : (JsonObject)JsonValues.GetObject(c["init"], where + ".init").DeepClone(),
                c["enabled"] is null || JsonValues.GetBool(c["enabled"], where + ".enabled"),
                c["params"] is null ? null : (JsonObject)JsonValues.GetObject(c["params"], where + ".params").DeepClone(),
                c["time_budget_s"] is null ? null : TimeBudget.Check(JsonValues.GetDouble(c["time_budget_s"], where + ".time_budget_s"), where + ".time_budget_s"))));
        }
        return list;
    }

    private static ModuleSpec ParseModule(JsonNode? node, string name)
    {
        var m = JsonValues.GetObject(node, name);
        JsonValues.RejectUnknownKeys(m, ["id", "enabled", "params", "bounds"], name + ": ");
        var bounds = new Dictionary<string, Bounds>(StringComparer.Ordinal);
        if (m["bounds"] is not null)
        {
            foreach (var (k, v) in JsonValues.GetObject(m["bounds"], name + ".bounds")) bounds[k] = Bounds.FromJson(v, $"{name}.bounds.{k}");
        }
        return new ModuleSpec(
            JsonValues.GetOptionalString(m, "id", name + ".") ?? "main",
            m["enabled"] is null || JsonValues.GetBool(m["enabled"], name + ".enabled"),
            m["params"] is null ? [] : (JsonObject)JsonValues.GetObject(m["params"], name + ".params").DeepClone(),
            bounds);
    }
}
