using System.Diagnostics;
using Kiln.Modules.Callbacks;
using Kiln.Protocol;
using Kiln.Scripting.Compilation;
using Kiln.Scripting.Loading;
using Kiln.Modules;

namespace Kiln.Bench;

/// <summary>
/// Loading a small C# callback from source: in a fresh process without warm-up (Roslyn cold), the first load after
/// the kernel's background warm-up, later loads of new sources, and loads of a source already compiled.
/// </summary>
internal static class ScriptingBench
{
    private static string Source(int n) => $$"""
        public sealed class Probe{{n}}(string id, int every = 10) : IKilnCallback
        {
            public string Id { get; } = id;
            public int Every { get; private set; } = every;
            public void SetParams(JsonObject p) { if (p["every"] is { } e) Every = (int)e; }
            public void Handle(string evt, KernelEnv env) { if (env.Step % Every == 0) env.Log($"[{Id}] {evt} {env.Step}"); }
        }
        """;

    private static (RunFiles Run, SourceCallbackLoader Loader) Setup()
    {
        var dir = Path.Combine(Path.GetTempPath(), "kiln-bench-scripting-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        ScriptCompiler.CacheDirectory = Path.Combine(dir, "cache");
        return (new RunFiles(dir), new SourceCallbackLoader());
    }

    /// <summary>Milliseconds to load (capture, compile or fetch, load, construct) source <paramref name="n"/>, then unload it.</summary>
    private static double Load(RunFiles run, SourceCallbackLoader loader, int n)
    {
        var path = Path.Combine(run.Dir, $"Probe{n}.cs");
        if (!File.Exists(path)) File.WriteAllText(path, Source(n));
        var clock = Stopwatch.StartNew();
        var loaded = loader.Load(new CallbackLoadRequest("probe", new CallbackTarget(CallbackTarget.FileKind, path, $"Probe{n}"), null, null, run));
        var ms = clock.Elapsed.TotalMilliseconds;
        loaded.Unload();
        return ms;
    }

    public static void Cold()
    {
        var (run, loader) = Setup();
        Console.WriteLine(Load(run, loader, 0).ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        Directory.Delete(run.Dir, recursive: true);
    }

    public static void Run()
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
        info.ArgumentList.Add(typeof(ScriptingBench).Assembly.Location);
        info.ArgumentList.Add("scripting-cold");
        using (var child = Process.Start(info)!)
        {
            var text = child.StandardOutput.ReadToEnd().Trim();
            child.WaitForExit();
            if (double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var cold))
                Figures.Print("scripting.cold_first_load", cold, "ms", "fresh process, no warm-up (Roslyn cold)");
        }

        var (run, loader) = Setup();
        var clock = Stopwatch.StartNew();
        loader.Prepare();
        ScriptCompiler.WarmUp().Wait();
        Figures.Print("scripting.warm_up", clock.Elapsed.TotalMilliseconds, "ms", "on a background thread when a kernel starts");
        Figures.Print("scripting.first_load_after_warm_up", Load(run, loader, 1), "ms", "aim: well under a second");
        var later = Enumerable.Range(2, 20).Select(n => Load(run, loader, n)).Order().ToList();
        Figures.Print("scripting.later_load_median", Figures.Percentile(later, 50), "ms", "new sources");
        Figures.Print("scripting.later_load_max", later[^1], "ms");
        var cached = Enumerable.Range(0, 20).Select(_ => Load(run, loader, 2)).Order().ToList();
        Figures.Print("scripting.cached_load_median", Figures.Percentile(cached, 50), "ms", "source compiled before");
        Directory.Delete(run.Dir, recursive: true);
    }
}
