using Kiln.Kernel;
using Kiln.Modules.Callbacks;
using Kiln.Protocol;
using Kiln.Scripting.Loading;
using Kiln.Modules;

namespace Kiln.Scripting.Standalone;

/// <summary>
/// Hot-loadable callbacks without the rest of Kiln (seed 001's standalone mode): the controller polls its own
/// commands file and YAML configuration and manages only callbacks — loading C# sources, types and assemblies,
/// enabling, tuning and unloading them — with the kernel's guarantees underneath (each command applied once and
/// ledgered in <c>kiln.applied.jsonl</c> beside the commands file, failures isolated, every call into a callback under
/// its time budget: one that never returns is left running, disabled and ledgered, and <see cref="Handle"/> returns).
/// <code>
/// using var callbacks = new CallbackController(configPath: "callbacks.yaml", commandsPath: "callbacks.commands.jsonl");
/// for (long step = 0; …; step++) { /* train */ callbacks.Handle(step, "train_step_end", env); }
/// </code>
/// </summary>
public sealed class CallbackController : IDisposable
{
    private readonly KilnKernel _kernel;

    public CallbackController(string configPath = RunFiles.Config, string commandsPath = RunFiles.Commands, KernelOptions? options = null)
    {
        var commands = Path.GetFullPath(commandsPath);
        var files = new RunFiles(Path.GetDirectoryName(commands)!, configPath, commands);
        var o = options ?? new KernelOptions();
        _kernel = new KilnKernel(files, o with { CallbackLoaders = [.. o.CallbackLoaders, new SourceCallbackLoader()] });
    }

    public RunFiles Files => _kernel.Files;

    /// <summary>Reads new commands and configuration changes when due, then calls every enabled callback.</summary>
    public void Handle(long step, string evt, KernelEnv? env = null) => _kernel.Apply(step, evt, env);

    public void Add(IKilnCallback callback, bool enabled = true) => _kernel.AddCallback(callback, enabled);

    /// <summary>Adds an object of a callback's shape (an <c>Id</c>, <c>Handle</c> and <c>SetParams</c>) without <see cref="IKilnCallback"/>.</summary>
    public void Add(object callback, bool enabled = true) => _kernel.AddCallback(CallbackShape.Adapt(callback), enabled);

    public IKilnCallback? Get(string id) => _kernel.GetCallback(id);

    public bool IsEnabled(string id) => _kernel.IsCallbackEnabled(id);

    /// <summary>Closes every callback.</summary>
    public void Dispose()
    {
        _kernel.End();
        _kernel.Dispose();
    }
}
