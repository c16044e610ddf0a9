using Kiln.Modules;
using Kiln.Protocol;

namespace Kiln.Kernel;

/// <summary>The <c>core</c> module: <c>freeze</c> and <c>unfreeze</c>. Its commands pass the freeze gate.</summary>
internal sealed class CoreModule(FreezeControl freeze) : IKernelModule
{
    public const string ModuleName = "core";

    public string Name => ModuleName;

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
            default:
                return OpResult.Rejected($"op: unknown op \"{command.Op}\" for module core (known: freeze, unfreeze)");
        }
    }
}
