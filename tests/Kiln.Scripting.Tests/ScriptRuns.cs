using System.Runtime.Loader;
using Kiln.Kernel;
using Kiln.Scripting.Loading;
using Kiln.Testing;

namespace Kiln.Scripting.Tests;

/// <summary>Run directories whose kernel loads C# sources, and the checks that their load contexts go away.</summary>
internal static class ScriptRuns
{
    public static Harness NewHarness()
    {
        var h = new Harness();
        h.Restart();
        return h;
    }

    /// <summary>Replaces the harness's kernel with one that also loads source files.</summary>
    public static KilnKernel SourceKernel(Harness h, List<string>? log = null)
    {
        h.Kernel.Dispose();
        var kernel = new KilnKernel(h.Dir, h.Options with { CallbackLoaders = [new SourceCallbackLoader()] });
        kernel.AddOptimizer(h.Opt);
        kernel.AddLoss(h.Loss);
        if (log is not null) h.Env.Log = log.Add;
        return kernel;
    }

    public static string Write(Harness h, string name, string source)
    {
        var path = Path.Combine(h.Dir, name);
        File.WriteAllText(path, source);
        return path;
    }

    /// <summary>Sends a <c>cb load</c> of a source file through the inbox.</summary>
    public static void Load(Harness h, string id, string file, string? symbol, string? init = null, bool enabled = true) =>
        h.Run.Send($$"""{"module":"cb","op":"load","id":"{{id}}","target":{"kind":"file","path":"{{file}}","symbol":{{(symbol is null ? "null" : "\"" + symbol + "\"")}}},"init":{{init ?? "{}"}},"enabled":{{(enabled ? "true" : "false")}}}""");

    public static int LiveContexts(string prefix) => AssemblyLoadContext.All.Count(c => c.Name?.StartsWith(prefix, StringComparison.Ordinal) == true);

    public static int CollectUntilGone(string prefix)
    {
        for (var i = 0; i < 20 && LiveContexts(prefix) > 0; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        return LiveContexts(prefix);
    }

    /// <summary>Collects until <paramref name="reference"/> dies (a load context, say); whether it is still alive.</summary>
    public static bool CollectUntilDead(WeakReference reference)
    {
        for (var i = 0; i < 20 && reference.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        return reference.IsAlive;
    }
}
