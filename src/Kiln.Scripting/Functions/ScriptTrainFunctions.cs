using Kiln.Protocol;
using Kiln.Runs;
using Kiln.Scripting.Compilation;
using Kiln.Scripting.Loading;

namespace Kiln.Scripting.Functions;

/// <summary>Training functions written in C# source: <c>kiln launch --train-fn path/Train.cs:Namespace.Type.Method</c>.</summary>
public static class ScriptTrainFunctions
{
    private const string Option = "--train-fn";

    /// <summary>Whether <paramref name="spec"/> names a C# source file rather than a compiled assembly.</summary>
    public static bool IsSource(string spec) => FileSymbol.NamesSource(spec);

    /// <summary>A source file or an assembly, whichever <paramref name="spec"/> names.</summary>
    public static TrainFunction Resolve(string spec) => IsSource(spec) ? FromSource(spec) : TrainFunction.FromAssembly(spec);

    /// <summary>Compiles the file and binds the method (a <c>TrainContext</c> or hotcb-shaped signature).</summary>
    public static TrainFunction FromSource(string spec, long defaultSteps = 1000)
    {
        var target = FileSymbol.Parse(spec, Option, "<file.cs>:<Namespace.Type.Method>");
        var path = Path.GetFullPath(target.File);
        var (typeName, methodName) = target.TypeAndMember(Option);
        if (!File.Exists(path)) throw new ProtocolException($"{Option}: source file not found: {path}");
        CompiledScript compiled;
        try
        {
            compiled = ScriptCompiler.Compile(File.ReadAllBytes(path), path);
        }
        catch (CompilationFailedException ex)
        {
            throw new ProtocolException(string.Join(Environment.NewLine, ex.Errors), ex);
        }
        // A training function lives as long as the process, so its context is never unloaded.
        var assembly = new ScriptLoadContext($"kiln-train-fn:{Path.GetFileName(path)}").Load(compiled.Image, compiled.Pdb);
        var type = ScriptTypes.Find(assembly, typeName, typeof(object), path);
        return TrainFunction.FromMethod(type, methodName, $"{Path.GetFileName(path)}:{target.Symbol}", defaultSteps);
    }
}
