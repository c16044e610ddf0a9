using System.Text.Json.Nodes;
using Kiln.Modules;
using Kiln.Protocol;

namespace Kiln.Kernel;

/// <summary>
/// Every change to a run passes here: the freeze gate, then the module the command names, then one ledger line. It is
/// also the <see cref="IModuleHost"/> the modules see: their safe points, failures and closing go through it.
/// </summary>
internal sealed class Dispatcher(ModuleTable modules, LedgerRecorder ledger, RunFiles files) : IModuleHost
{
    /// <summary>The gate: while frozen, external changes are ignored (set by <see cref="FreezeControl"/>).</summary>
    public FreezeState Freeze { get; set; } = FreezeState.Unfrozen;

    public bool AutoDisableOnError { get; set; } = true;

    /// <summary>A dial changed since <c>kiln.actuators.json</c> was written.</summary>
    public bool DialsChanged { get; set; }

    public RunFiles Files => files;

    public IRunState? RunState { get; set; }

    public IReadOnlyList<ActuatorState> Dials(long step) => modules.Describe(step);

    OpResult IModuleHost.Execute(Command command, string source, long? step, string evt, KernelEnv? env) =>
        Execute(command, source, null, new Moment(step, evt, env), gated: false);

    /// <summary>
    /// Applies a command, ledgers the decision and returns it. <paramref name="gated"/> commands (the inbox's) are ignored while the
    /// run is frozen, except <c>core</c> ones that control the kernel; baseline, <c>kiln.yaml</c> and replay changes are gated where they are read.
    /// </summary>
    public OpResult Execute(Command command, string source, string? cid, Moment at, bool gated)
    {
        OpResult result;
        if (gated && !(command.Module == CoreModule.ModuleName && CoreModule.IsControl(command.Op)) && Freeze.IsFrozen)
        {
            result = new OpResult(Freeze.IsReplay ? Decision.IgnoredReplay : Decision.IgnoredFreeze,
                Notes: $"the run is frozen (mode {Freeze.Mode}); `kiln freeze --mode off` lifts it");
        }
        else
        {
            result = modules.Route(command, new OpContext(at.Step, at.Event, at.Env, AutoDisableOnError, files));
        }
        ledger.Record(command, source, cid, at, result);
        if (result.Decision == Decision.Applied) DialsChanged = true;
        if (command.Module == CoreModule.ModuleName && command.Op == "freeze" && result.Decision == Decision.Rejected && StrictReplayRequested(command.Params))
            throw new ReplayMissedException($"strict replay could not start: {result.Error}");
        return result;
    }

    private static bool StrictReplayRequested(JsonObject? p) =>
        p?["policy"] is JsonValue v && v.ToString() == FreezeState.Strict
        && p["mode"] is JsonValue m && m.ToString() is FreezeState.Replay or FreezeState.ReplayAdjusted;

    /// <summary>Adds a module and attaches it to this host.</summary>
    public void Add(IKernelModule module)
    {
        modules.Add(module);
        module.Attach(this);
    }

    /// <summary>Calls the listening modules at a safe point; one that throws is ledgered <c>failed</c> and, by default, stops listening.</summary>
    public void SafePoint(string evt, KernelEnv env)
    {
        foreach (var module in modules.Listening)
        {
            try
            {
                module.OnSafePoint(evt, env);
            }
            catch (Exception ex) when (ex is not ReplayMissedException)
            {
                if (AutoDisableOnError) modules.Listen(module, false);
                Report(new Command { Module = module.Name, Op = "safe_point" }, OpResult.Failed(ex,
                    notes: AutoDisableOnError ? $"{module.Name} no longer hears safe points (auto_disable_on_error)" : null), env.Step, evt, env);
            }
        }
    }

    /// <summary>The run ended: every module closes; one that throws is ledgered <c>failed</c>.</summary>
    public void Close(long? step, KernelEnv? env)
    {
        foreach (var module in modules.All)
        {
            try { module.Close(step, env); }
            catch (Exception ex) { Report(new Command { Module = module.Name, Op = "close" }, OpResult.Failed(ex), step, KernelEvents.End, env); }
        }
    }

    public void Report(Command command, OpResult result, long? step, string evt, KernelEnv? env)
    {
        ledger.Record(command, Sources.Kernel, null, new Moment(step, evt, env), result);
        DialsChanged = true;
    }

    public void Listen(IKernelModule module, bool listening) => modules.Listen(module, listening);
}
