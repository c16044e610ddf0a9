using Kiln.Modules;
using Kiln.Protocol;

namespace Kiln.Kernel;

/// <summary>The kernel's modules by name, in the order they were added: commands are routed by it, dials described in it.</summary>
internal sealed class ModuleTable
{
    /// <summary>Top-level keys of <c>kiln.yaml</c> that are not module sections.</summary>
    private static readonly string[] Reserved = ["version", "kernel", "callbacks"];

    private readonly List<IKernelModule> _modules = [];
    private readonly Dictionary<string, IKernelModule> _byName = new(StringComparer.Ordinal);
    private readonly HashSet<IKernelModule> _listening = new(ReferenceEqualityComparer.Instance);

    /// <summary>The modules that asked for safe points, in table order.</summary>
    public IKernelModule[] Listening { get; private set; } = [];

    public IReadOnlyList<IKernelModule> All => _modules;

    public void Add(IKernelModule module)
    {
        ArgumentNullException.ThrowIfNull(module);
        var name = module.Name;
        if (string.IsNullOrEmpty(name) || Array.IndexOf(Reserved, name) >= 0)
            throw new ArgumentException($"a kernel module needs a name other than {string.Join(", ", Reserved)} (got \"{name}\")", nameof(module));
        if (!_byName.TryAdd(name, module))
            throw new ArgumentException($"a module named \"{name}\" is already in this kernel", nameof(module));
        _modules.Add(module);
    }

    public IKernelModule? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>The names of the modules, for messages.</summary>
    public string Known => string.Join(", ", _modules.Select(m => m.Name));

    /// <summary>The modules that may have a section in <c>kiln.yaml</c>: all but <c>core</c> and <c>cb</c> (whose section is <c>callbacks</c>).</summary>
    public string[] Sections => [.. _modules.Select(m => m.Name).Where(n => n is not (CoreModule.ModuleName or "cb"))];

    public void Listen(IKernelModule module, bool listening)
    {
        if (!_byName.TryGetValue(module.Name, out var m) || !ReferenceEquals(m, module)) throw new InvalidOperationException($"module {module.Name} is not in this kernel");
        if (!(listening ? _listening.Add(module) : _listening.Remove(module))) return;
        Listening = [.. _modules.Where(_listening.Contains)];
    }

    /// <summary>Hands a command to its module; a module that throws has <c>failed</c>, a name no module has is <c>rejected</c>.</summary>
    public OpResult Route(Command command, OpContext context)
    {
        if (!_byName.TryGetValue(command.Module, out var module))
        {
            return OpResult.Rejected(Array.IndexOf(Command.Modules, command.Module) >= 0
                ? $"module: {command.Module} is not available in this run (known: {Known})"
                : $"module: unknown module \"{command.Module}\" (known: {Known})");
        }
        try
        {
            return module.Apply(command, context);
        }
        catch (Exception ex) when (ex is not ReplayMissedException)
        {
            return OpResult.Failed(ex);
        }
    }

    public List<ActuatorState> Describe(long step)
    {
        var dials = new List<ActuatorState>();
        foreach (var m in _modules) m.Describe(dials, step);
        return dials;
    }
}
