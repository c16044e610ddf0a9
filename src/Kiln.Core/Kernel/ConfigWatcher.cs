using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Modules;
using Kiln.Modules.Callbacks;
using Kiln.Protocol;

namespace Kiln.Kernel;

/// <summary>
/// Follows <c>kiln.yaml</c>: applies it as the baseline when the kernel starts, and each edit as ledgered changes
/// (source <c>yaml</c>) planned by <see cref="ConfigReconciler"/>. An edit made while the run is frozen waits for the
/// unfreeze; a file that does not parse is rejected and the previous settings stay.
/// </summary>
internal sealed class ConfigWatcher(RunFiles files, LedgerRecorder ledger, Dispatcher dispatch, ModuleTable modules, CallbackModule callbacks, Action<KernelSettings> applySettings)
{
    // Stands for a file too large to read; not UTF-8, so no readable kiln.yaml equals it.
    private static readonly byte[] TooLarge = [0xFF];

    private KilnConfig _config = KilnConfig.Empty;
    private byte[]? _bytes;
    private FileStamp _stamp;

    /// <summary>The file changed while the run was frozen; it is applied when the run is unfrozen.</summary>
    public bool Waiting { get; private set; }

    public void Start(Moment at)
    {
        _stamp = FileStamp.Of(files.ConfigPath);
        if (_stamp.Exists) Reload(at, baseline: true);
    }

    /// <summary>Reads the file again when it changed, or when an edit was waiting for the run to be unfrozen.</summary>
    public void Poll(Moment at)
    {
        var stamp = FileStamp.Of(files.ConfigPath);
        if (stamp == _stamp && !(Waiting && !dispatch.Freeze.IsFrozen)) return;
        _stamp = stamp;
        Reload(at, baseline: false);
    }

    private void Reload(Moment at, bool baseline)
    {
        byte[]? bytes;
        try
        {
            // The file's size is checked before it is read: a huge kiln.yaml costs the trainer no memory.
            var info = new FileInfo(files.ConfigPath);
            if (info.Exists && info.Length > YamlJson.MaxBytes)
            {
                _bytes = TooLarge;
                ledger.Kernel("config", at, OpResult.Rejected($"{RunFiles.Config}: {info.Length} bytes is too large for a YAML file (at most {YamlJson.MaxBytes} bytes); the previous settings stay"), Sources.Yaml);
                return;
            }
            bytes = info.Exists ? File.ReadAllBytes(files.ConfigPath) : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ledger.Kernel("config", at, OpResult.Rejected($"{RunFiles.Config}: {ex.Message}"), Sources.Yaml);
            return;
        }
        if (!baseline && !Waiting && bytes.AsSpan().SequenceEqual(_bytes)) return;
        var freeze = dispatch.Freeze;
        if (!baseline && freeze.IsFrozen)
        {
            if (!Waiting || !bytes.AsSpan().SequenceEqual(_bytes))
            {
                ledger.Kernel("config", at, new OpResult(freeze.IsReplay ? Decision.IgnoredReplay : Decision.IgnoredFreeze,
                    Notes: $"{RunFiles.Config} changed while the run is frozen (mode {freeze.Mode}); it is applied when the run is unfrozen"), Sources.Yaml);
            }
            _bytes = bytes;
            Waiting = true;
            return;
        }
        _bytes = bytes;
        Waiting = false;
        KilnConfig next;
        try
        {
            next = bytes is null ? KilnConfig.Empty : KilnConfig.FromJson(YamlJson.Parse(bytes), modules.Sections);
        }
        catch (ProtocolException ex)
        {
            ledger.Kernel("config", at, OpResult.Rejected($"{RunFiles.Config}: {ex.Message}; the previous settings stay"), Sources.Yaml);
            return;
        }
        var previous = _config;
        _config = next;
        Apply(ConfigReconciler.Plan(previous, next), at);
    }

    private void Apply(ConfigPlan plan, Moment at)
    {
        if (plan.Settings is { } s)
        {
            applySettings(s);
            ledger.Kernel("config", at, OpResult.Applied(new JsonObject
            {
                ["kernel"] = new JsonObject
                {
                    ["poll_interval_ms"] = s.PollIntervalMs,
                    ["debounce_steps"] = s.DebounceSteps,
                    ["auto_disable_on_error"] = s.AutoDisableOnError,
                    ["callback_time_budget_s"] = s.CallbackTimeBudgetS,
                    ["wait_for_disk_space"] = s.WaitForDiskSpace,
                },
            }), Sources.Yaml);
        }
        foreach (var (module, bounds) in plan.Bounds) SetBounds(module, bounds, at);
        foreach (var (command, ifLoaded) in plan.Steps)
        {
            if (ifLoaded && callbacks.Get(command.Id!) is null) continue;
            dispatch.Execute(command, Sources.Yaml, null, at, gated: false);
        }
    }

    private void SetBounds(string module, IReadOnlyDictionary<string, Bounds> bounds, Moment at)
    {
        OpResult result;
        try
        {
            modules.Find(module)!.SetBounds(bounds);
            var payload = new JsonObject();
            foreach (var (k, b) in bounds) payload[k] = b.ToJson();
            result = OpResult.Applied(new JsonObject { [module + ".bounds"] = payload });
        }
        catch (ProtocolException ex)
        {
            result = OpResult.Rejected($"{RunFiles.Config}: {ex.Message}");
        }
        ledger.Kernel("config", at, result, Sources.Yaml);
    }
}
