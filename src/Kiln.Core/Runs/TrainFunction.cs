using System.Reflection;
using Kiln.Protocol;

namespace Kiln.Runs;

/// <summary>
/// A training function and the steps it trains by default. It takes a <see cref="TrainContext"/> (its run, kernel and
/// metrics writer ready), or, like hotcb's contract, <c>(string runDir, long maxSteps, double stepDelaySeconds,
/// CancellationToken stop)</c> and follows the run-directory protocol itself.
/// </summary>
public sealed record TrainFunction(string Name, long DefaultSteps, Action<TrainContext>? WithContext, Action<string, long, double, CancellationToken>? Raw)
{
    /// <summary>Raw functions follow the run-directory protocol themselves, so the launcher gives them no kernel.</summary>
    public bool OwnsProtocol => Raw is not null;

    private const string Option = "--train-fn";
    private const string Shapes = "(TrainContext) or (string runDir, long maxSteps, double stepDelaySeconds, CancellationToken stop)";

    /// <summary>Resolves <c>path/My.dll:Namespace.Type.Method</c>.</summary>
    public static TrainFunction FromAssembly(string spec, long defaultSteps = 1000)
    {
        var target = FileSymbol.Parse(spec, Option, "<assembly.dll>:<Namespace.Type.Method>");
        if (target.IsSource)
            throw new ProtocolException($"{Option} {spec}: C# source files are compiled by Kiln.Scripting, which this build does not include; give a compiled assembly");
        var path = Path.GetFullPath(target.File);
        if (!File.Exists(path)) throw new ProtocolException($"{Option}: assembly not found: {path}");
        var (typeName, methodName) = target.TypeAndMember(Option);
        Assembly assembly;
        try { assembly = Assembly.LoadFrom(path); }
        catch (BadImageFormatException ex) { throw new ProtocolException($"{Option}: {path} is not a .NET assembly: {ex.Message}"); }
        var type = assembly.GetType(typeName, throwOnError: false)
            ?? throw new ProtocolException($"{Option}: no type {typeName} in {Path.GetFileName(path)}");
        return FromMethod(type, methodName, $"{Path.GetFileName(path)}:{target.Symbol}", defaultSteps);
    }

    /// <summary>Binds a public static method of one of the two accepted shapes.</summary>
    public static TrainFunction FromMethod(Type type, string methodName, string name, long defaultSteps = 1000)
    {
        var methods = type.GetMethods(BindingFlags.Public | BindingFlags.Static).Where(m => m.Name == methodName).ToList();
        if (methods.Count == 0) throw new ProtocolException($"{Option}: {type.FullName} has no public static method {methodName}");
        foreach (var m in methods)
        {
            var ps = m.GetParameters().Select(p => p.ParameterType).ToArray();
            if (ps.SequenceEqual([typeof(TrainContext)]))
                return new TrainFunction(name, defaultSteps, m.CreateDelegate<Action<TrainContext>>(), null);
            if (ps.SequenceEqual([typeof(string), typeof(long), typeof(double), typeof(CancellationToken)]))
                return new TrainFunction(name, defaultSteps, null, m.CreateDelegate<Action<string, long, double, CancellationToken>>());
        }
        throw new ProtocolException($"{Option}: {type.FullName}.{methodName} must take {Shapes}");
    }
}
