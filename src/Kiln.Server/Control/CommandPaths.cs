using Kiln.Modules.Callbacks;
using Kiln.Protocol;
using Kiln.Server.Security;

namespace Kiln.Server.Control;

/// <summary>
/// The files a change from the dashboard names must lie under the served directory, links resolved: a callback's C#
/// source or assembly (the kernel compiles or loads it, so naming a file is running it as the trainer's user), and a
/// freeze's recipe and adjust file (a replayed recipe loads callbacks too). Paths are resolved as the kernel resolves
/// them, relative ones from the run directory. The command line is not limited: whoever types it is the trainer's user.
/// </summary>
internal static class CommandPaths
{
    /// <summary>Throws a <see cref="ProtocolException"/> naming the path when a callback target lies outside.</summary>
    public static void Check(Command command, string runDir, Confinement confinement)
    {
        if (command.Target is not { Kind: CallbackTarget.FileKind or CallbackTarget.AssemblyKind } target) return;
        var file = target.Kind == CallbackTarget.AssemblyKind ? TypeCallbackLoader.SplitAssemblyTarget(target).Dll : target.Path;
        Inside("target.path", file, runDir, confinement);
    }

    /// <summary>Throws a <see cref="ProtocolException"/> naming the path when a recipe or adjust file lies outside.</summary>
    public static void Check(FreezeState state, string runDir, Confinement confinement)
    {
        if (state.RecipePath is { } recipe) Inside("recipe_path", recipe, runDir, confinement);
        if (state.AdjustPath is { } adjust) Inside("adjust_path", adjust, runDir, confinement);
    }

    private static void Inside(string key, string path, string runDir, Confinement confinement)
    {
        var full = new RunFiles(runDir).Resolve(path);
        if (confinement.Holds(full)) return;
        var real = Confinement.Resolve(full)
            ?? throw new ProtocolException($"{key}: {full} cannot be resolved (its links loop, or a folder on the way cannot be looked at)");
        var shown = real == full ? full : $"{full} (which leads to {real})";
        throw new ProtocolException(
            $"{key}: {shown} is outside the served directory {confinement.Root}; the dashboard loads files from under it only (the command line is not limited)");
    }
}
