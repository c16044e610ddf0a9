using System.Reflection;
using Kiln.Scripting.Compilation;

namespace Kiln.Scripting.Loading;

/// <summary>Loads a compiled source for code that keeps it for the rest of the process (an experiment's run).</summary>
public static class ScriptAssemblies
{
    /// <summary>The assembly, in a load context of its own (named <paramref name="name"/>) that is never unloaded.</summary>
    public static Assembly Load(CompiledScript compiled, string name)
    {
        ArgumentNullException.ThrowIfNull(compiled);
        return new ScriptLoadContext(name).Load(compiled.Image, compiled.Pdb);
    }
}
