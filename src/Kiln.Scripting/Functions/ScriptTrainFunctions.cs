using Kiln.Protocol;
using Kiln.Scripting.Compilation;
using Kiln.Scripting.Loading;
using Kiln.Train.Runs;

namespace Kiln.Scripting.Functions;

/// <summary>Training functions written in C# source: <c>kiln launch --train-fn path/Train.cs:Namespace.Type.Method</c>.</summary>
public static class ScriptTrainFunctions
{
    /// <summary>Whether <paramref name="spec"/> names a C# source file rather than a compiled assembly.</summary>
    public static bool IsSource(string spec)
    {
        var colon = spec.LastIndexOf(':');
        return (colon > 0 ? spec[..colon] : spec).EndsWith(".cs", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Compiles the file and binds the method (a <c>TrainContext</c> or hotcb-shaped signature).</summary>
    public static TrainFunction FromSource(string spec, long defaultSteps = 1000)
    {
        var colon = spec.LastIndexOf(':');
        if (colon <= 0 || colon == spec.Length - 1)
            throw new ProtocolException($"--train-fn {spec}: expected <file.cs>:<Namespace.Type.Method>");
        var path = Path.GetFullPath(spec[..colon]);
        var member = spec[(colon + 1)..];
        var dot = member.LastIndexOf('.');
        if (dot <= 0) throw new ProtocolException($"--train-fn {spec}: name the method as Type.Method (or Namespace.Type.Method)");
        if (!File.Exists(path)) throw new ProtocolException($"--train-fn: source file not found: {path}");
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
        var type = ScriptTypes.Find(assembly, member[..dot], typeof(object), path);
        return TrainFunctions.FromMethod(type, member[(dot + 1)..], $"{Path.GetFileName(path)}:{member}", defaultSteps);
    }
}
