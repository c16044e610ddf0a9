using System.Reflection;
using Kiln.Protocol;
using Kiln.Train.Runs.BuiltIn;

namespace Kiln.Train.Runs;

/// <summary>A training function and the steps it trains by default.</summary>
public sealed record TrainFunction(string Name, long DefaultSteps, Action<TrainContext>? WithContext, Action<string, long, double, CancellationToken>? Raw)
{
    /// <summary>Raw functions follow the run-directory protocol themselves, so the launcher gives them no kernel.</summary>
    public bool OwnsProtocol => Raw is not null;
}

/// <summary>
/// The built-in runs, and training functions in compiled assemblies (<c>--train-fn My.dll:Namespace.Type.Method</c>).
/// A function takes a <see cref="TrainContext"/> (the kernel and metrics writer are ready), or, like hotcb's contract,
/// <c>(string runDir, long maxSteps, double stepDelaySeconds, CancellationToken stop)</c> and follows the protocol itself.
/// </summary>
public static class TrainFunctions
{
    public static readonly IReadOnlyDictionary<string, TrainFunction> BuiltIn = new Dictionary<string, TrainFunction>(StringComparer.Ordinal)
    {
        ["simple"] = new("simple", SimpleRun.DefaultSteps, SimpleRun.Train, null),
        ["multitask"] = new("multitask", MultitaskRun.DefaultSteps, MultitaskRun.Train, null),
        ["finetune"] = new("finetune", FinetuneRun.DefaultSteps, FinetuneRun.Train, null),
    };

    /// <summary>Resolves a built-in config name.</summary>
    public static TrainFunction Config(string name) =>
        BuiltIn.TryGetValue(name, out var f) ? f
        : throw new ProtocolException($"--config: unknown config \"{name}\" (known: {string.Join(", ", BuiltIn.Keys)})");

    /// <summary>Resolves <c>path/My.dll:Namespace.Type.Method</c>.</summary>
    public static TrainFunction FromAssembly(string spec, long defaultSteps = 1000)
    {
        var colon = spec.LastIndexOf(':');
        if (colon <= 0 || colon == spec.Length - 1)
            throw new ProtocolException($"--train-fn {spec}: expected <assembly.dll>:<Namespace.Type.Method>");
        var path = Path.GetFullPath(spec[..colon]);
        var member = spec[(colon + 1)..];
        if (path.EndsWith(".cs", StringComparison.OrdinalIgnoreCase))
            throw new ProtocolException($"--train-fn {spec}: C# source files are compiled by Kiln.Scripting, which this build does not include; give a compiled assembly");
        if (!File.Exists(path)) throw new ProtocolException($"--train-fn: assembly not found: {path}");
        var dot = member.LastIndexOf('.');
        if (dot <= 0) throw new ProtocolException($"--train-fn {spec}: name the method as Namespace.Type.Method");
        var (typeName, methodName) = (member[..dot], member[(dot + 1)..]);
        Assembly assembly;
        try { assembly = Assembly.LoadFrom(path); }
        catch (BadImageFormatException ex) { throw new ProtocolException($"--train-fn: {path} is not a .NET assembly: {ex.Message}"); }
        var type = assembly.GetType(typeName, throwOnError: false)
            ?? throw new ProtocolException($"--train-fn: no type {typeName} in {Path.GetFileName(path)}");
        return FromMethod(type, methodName, $"{Path.GetFileName(path)}:{member}", defaultSteps);
    }

    /// <summary>Binds a public static method of one of the two accepted shapes.</summary>
    public static TrainFunction FromMethod(Type type, string methodName, string name, long defaultSteps = 1000)
    {
        var methods = type.GetMethods(BindingFlags.Public | BindingFlags.Static).Where(m => m.Name == methodName).ToList();
        if (methods.Count == 0) throw new ProtocolException($"--train-fn: {type.FullName} has no public static method {methodName}");
        foreach (var m in methods)
        {
            var ps = m.GetParameters().Select(p => p.ParameterType).ToArray();
            if (ps.SequenceEqual([typeof(TrainContext)]))
                return new TrainFunction(name, defaultSteps, m.CreateDelegate<Action<TrainContext>>(), null);
            if (ps.SequenceEqual([typeof(string), typeof(long), typeof(double), typeof(CancellationToken)]))
                return new TrainFunction(name, defaultSteps, null, m.CreateDelegate<Action<string, long, double, CancellationToken>>());
        }
        throw new ProtocolException($"--train-fn: {type.FullName}.{methodName} must take (TrainContext) or (string runDir, long maxSteps, double stepDelaySeconds, CancellationToken stop)");
    }
}
