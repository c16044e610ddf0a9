using System.Text.Json.Nodes;
using Kiln.Modules;
using Kiln.Protocol;

namespace Kiln.Kernel;

/// <summary>
/// The <c>core</c> module: <c>freeze</c> and <c>unfreeze</c>, which pass the freeze gate and stay out of recipes (they
/// control the kernel), and <c>restore_checkpoint</c>, a change to the run like any other (gated, replayed): the trainer
/// rolls its weights and optimizer state back to the newest checkpoint it keeps at or before <c>params.at_or_before</c>
/// (the latest without it), through <see cref="KernelEnv.RestoreCheckpoint"/>.
/// </summary>
internal sealed class CoreModule(FreezeControl freeze) : IKernelModule
{
    public const string ModuleName = "core";

    public const string RestoreCheckpoint = "restore_checkpoint";

    public string Name => ModuleName;

    /// <summary>Whether a <c>core</c> op controls the kernel (passes the freeze gate, stays out of recipes) rather than changing the run.</summary>
    public static bool IsControl(string? op) => op is not RestoreCheckpoint;

    public OpResult Apply(Command command, OpContext context)
    {
        switch (command.Op)
        {
            case "freeze":
                FreezeState state;
                try { state = FreezeState.FromJson(command.Params ?? []); }
                catch (ProtocolException ex) { return OpResult.Rejected("params." + ex.Message); }
                return freeze.Set(state, writeFile: true);
            case "unfreeze":
                return freeze.Set(FreezeState.Unfrozen, writeFile: true);
            case RestoreCheckpoint:
                return Restore(command, context);
            default:
                return OpResult.Rejected($"op: unknown op \"{command.Op}\" for module core (known: freeze, unfreeze, {RestoreCheckpoint})");
        }
    }

    private static OpResult Restore(Command command, OpContext context)
    {
        long? atOrBefore = null;
        try
        {
            foreach (var (key, _) in command.Params ?? [])
                if (key != "at_or_before") return OpResult.Rejected($"params.{key}: unknown key (known: at_or_before)");
            if (command.Params?["at_or_before"] is { } a) atOrBefore = JsonValues.GetLong(a, "params.at_or_before");
        }
        catch (ProtocolException ex) { return OpResult.Rejected(ex.Message); }
        if (context.Env?.RestoreCheckpoint is not { } restore)
            return OpResult.Rejected("this trainer cannot roll back to a checkpoint (a built-in run keeping checkpoints can)");
        try
        {
            var step = restore(atOrBefore);
            return OpResult.Applied(new JsonObject { ["at_or_before"] = atOrBefore, ["restored_step"] = step });
        }
        catch (ProtocolException ex) { return OpResult.Rejected(ex.Message); }
    }
}
