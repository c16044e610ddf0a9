using System.Reflection;
using System.Runtime.Loader;
using Kiln.Protocol;

namespace Kiln.Modules.Callbacks;

/// <summary>
/// Loads callbacks from .NET types: <c>type</c> targets name a type already in the process
/// (<c>Kiln.Callbacks.Timing</c>, or a namespace in <c>path</c> and the class in <c>symbol</c>);
/// <c>assembly</c> targets name a .dll (loaded into a collectible context that unloading frees) and the type.
/// </summary>
public sealed class TypeCallbackLoader : ICallbackLoader
{
    public bool CanLoad(CallbackTarget target) => target.Kind is CallbackTarget.TypeKind or CallbackTarget.AssemblyKind;

    public LoadedCallback Load(CallbackLoadRequest request)
    {
        var target = request.Target;
        if (target.Kind == CallbackTarget.TypeKind)
        {
            var name = target.Symbol is null ? target.Path : target.Path + "." + target.Symbol;
            var type = FindLoadedType(name)
                ?? throw new ProtocolException($"target: no type '{name}' is loaded in this process");
            return new LoadedCallback(request.Create(type));
        }
        var (dll, typeName) = SplitAssemblyTarget(target);
        var path = request.Run.Resolve(dll);
        if (!File.Exists(path)) throw new ProtocolException($"target.path: assembly not found: {path}");
        var context = new PluginContext(path);
        try
        {
            var assembly = context.LoadFromAssemblyPath(path);
            var type = assembly.GetType(typeName, throwOnError: false)
                ?? throw new ProtocolException($"target.symbol: no type '{typeName}' in {Path.GetFileName(path)}");
            var callback = request.Create(type);
            return new LoadedCallback(callback, unload: context.Unload);
        }
        catch
        {
            context.Unload();
            throw;
        }
    }

    /// <summary><c>path: My.dll, symbol: Ns.Type</c>, or <c>path: My.dll:Ns.Type</c>.</summary>
    public static (string Dll, string Type) SplitAssemblyTarget(CallbackTarget target)
    {
        if (target.Symbol is not null) return (target.Path, target.Symbol);
        if (FileSymbol.TryParse(target.Path, out var named) && named.File.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
            return (named.File, named.Symbol);
        throw new ProtocolException($"target: name the type, as --symbol Ns.Type or --path {target.Path}:Ns.Type");
    }

    public static Type? FindLoadedType(string name)
    {
        var direct = Type.GetType(name, throwOnError: false);
        if (direct is not null) return direct;
        foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
        {
            if (assembly.IsDynamic) continue;
            var t = assembly.GetType(name, throwOnError: false);
            if (t is not null) return t;
        }
        return null;
    }

    /// <summary>
    /// One collectible context per load. Kiln's own assemblies resolve from the default context so the
    /// callback's <see cref="IKilnCallback"/> is the kernel's; other dependencies come from the plug-in's folder.
    /// </summary>
    private sealed class PluginContext(string mainPath) : AssemblyLoadContext($"kiln-callback:{Path.GetFileName(mainPath)}", isCollectible: true)
    {
        private readonly string _dir = Path.GetDirectoryName(mainPath)!;

        protected override Assembly? Load(AssemblyName name)
        {
            foreach (var loaded in Default.Assemblies)
            {
                if (AssemblyName.ReferenceMatchesDefinition(loaded.GetName(), name)) return null;
            }
            var candidate = Path.Combine(_dir, name.Name + ".dll");
            return File.Exists(candidate) ? LoadFromAssemblyPath(candidate) : null;
        }
    }
}
