using System.Runtime.CompilerServices;
using Kiln.Scripting.Compilation;

namespace Kiln.Scripting.Tests;

internal static class IsolatedCache
{
    /// <summary>The tests compile into a cache of their own, not the user's.</summary>
    [ModuleInitializer]
    internal static void Use() =>
        ScriptCompiler.CacheDirectory = Path.Combine(Path.GetTempPath(), "kiln-tests", "script-cache-" + Environment.ProcessId);
}
