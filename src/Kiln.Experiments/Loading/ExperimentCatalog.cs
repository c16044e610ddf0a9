using System.Reflection;
using System.Text.RegularExpressions;
using Kiln.Scripting.Compilation;
using Kiln.Scripting.Loading;

namespace Kiln.Experiments.Loading;

/// <summary>An experiment or parameters file, as <c>kiln experiment ls</c> lists it.</summary>
public sealed record CatalogEntry(string Name, string Path, string? Description);

/// <summary>
/// The workspace's <c>experiments/*.cs</c> and <c>params/*.cs</c> (plus shared code in <c>stages/*.cs</c>): what can be
/// listed and loaded. An experiment is compiled together with its parameter files and the shared code into one
/// assembly (cached by the content hash of all of them), so they share types; errors come back as
/// <c>file(line,col): message</c>.
/// </summary>
public sealed partial class ExperimentCatalog(string root)
{
    public string Root { get; } = System.IO.Path.GetFullPath(root);
    public string ExperimentsDir => System.IO.Path.Combine(Root, "experiments");
    public string ParamsDir => System.IO.Path.Combine(Root, "params");
    public string StagesDir => System.IO.Path.Combine(Root, "stages");

    [GeneratedRegex(@"\bstatic\s+[\w<>\[\], ?]+\s+Run\s*\(")]
    private static partial Regex RunMethod();

    [GeneratedRegex(@"\bstatic\s+[\w<>\[\], ?]+\s+GetParams\s*\(\s*\)")]
    private static partial Regex GetParamsMethod();

    [GeneratedRegex(@"\b(?:class|record|struct)\s+(\w+)")]
    private static partial Regex TypeDeclaration();

    public IReadOnlyList<CatalogEntry> Experiments() => Entries(ExperimentsDir, RunMethod());

    /// <summary>Parameter files: <c>params/</c>, and experiment files that have their own <c>GetParams</c>.</summary>
    public IReadOnlyList<CatalogEntry> Params() => [.. Entries(ParamsDir, GetParamsMethod()), .. Entries(ExperimentsDir, GetParamsMethod())];

    private static List<CatalogEntry> Entries(string dir, Regex shape)
    {
        if (!Directory.Exists(dir)) return [];
        return [.. Directory.GetFiles(dir, "*.cs").Order(StringComparer.Ordinal)
            .Select(f => (File: f, Text: File.ReadAllText(f)))
            .Where(f => shape.IsMatch(f.Text))
            .Select(f => new CatalogEntry(System.IO.Path.GetFileNameWithoutExtension(f.File), f.File, Description(f.Text)))];
    }

    /// <summary>The leading comment (<c>///</c> or <c>//</c> lines, XML tags dropped), joined into one line.</summary>
    public static string? Description(string text)
    {
        var lines = new List<string>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 && lines.Count == 0) continue;
            if (!line.StartsWith("//", StringComparison.Ordinal)) break;
            var body = line.TrimStart('/').Trim();
            body = Regex.Replace(body, "</?summary>", "").Trim();
            if (body.Length > 0) lines.Add(body);
        }
        return lines.Count == 0 ? null : string.Join(" ", lines);
    }

    /// <summary>The experiment file for <paramref name="name"/>; a missing one is an error listing those there are.</summary>
    public string ExperimentPath(string name) => Find(ExperimentsDir, name, "experiment", Experiments);

    /// <summary>A parameters file: <c>params/NAME.cs</c>, else <c>experiments/NAME.cs</c> (an experiment with its own GetParams).</summary>
    public string ParamsPath(string name)
    {
        var inParams = System.IO.Path.Combine(ParamsDir, name + ".cs");
        if (File.Exists(inParams)) return inParams;
        return Find(ExperimentsDir, name, "parameters", Params);
    }

    /// <param name="known">Lists the files there are, for the error only (reading them all is not free).</param>
    private static string Find(string dir, string name, string what, Func<IReadOnlyList<CatalogEntry>> known)
    {
        if (name.Contains('/', StringComparison.Ordinal) || name.Contains('\\', StringComparison.Ordinal) || name.EndsWith(".cs", StringComparison.Ordinal))
            throw new ExperimentException($"{name}: give the {what} file's name without folder or .cs (as `kiln experiment ls` lists them)");
        var path = System.IO.Path.Combine(dir, name + ".cs");
        if (File.Exists(path)) return path;
        var there = known();
        throw new ExperimentException($"{path}: no such {what} file (there are: {(there.Count == 0 ? "none" : string.Join(", ", there.Select(k => k.Name)))})");
    }

    /// <summary>Compiles the experiment with its parameter files and shared stage code, and finds its entry points.</summary>
    public LoadedExperiment Load(string experiment, IReadOnlyList<string> paramNames)
    {
        var experimentPath = ExperimentPath(experiment);
        var paramPaths = paramNames.Select(ParamsPath).ToList();
        var files = new List<string> { experimentPath };
        files.AddRange(paramPaths.Where(p => !files.Contains(p)));
        if (Directory.Exists(StagesDir)) files.AddRange(Directory.GetFiles(StagesDir, "*.cs", SearchOption.AllDirectories).Order(StringComparer.Ordinal));
        var sources = files.Select(f => (File.ReadAllBytes(f), System.IO.Path.GetRelativePath(Root, f))).ToList();
        CompiledScript compiled;
        try
        {
            compiled = ScriptCompiler.Compile(sources);
        }
        catch (CompilationFailedException ex)
        {
            throw new ExperimentException(string.Join(Environment.NewLine, ex.Errors));
        }
        var assembly = ScriptAssemblies.Load(compiled, "kiln-experiment:" + experiment);
        var run = EntryPoint(assembly, experimentPath, RunMethod(), "Run", m => m.GetParameters().Length == 2 && m.GetParameters()[1].ParameterType == typeof(Pipeline.ExperimentManager),
            "public static void Run(IReadOnlyList<TParams> params, ExperimentManager manager)");
        var getParams = paramPaths.Select(p => (System.IO.Path.GetFileNameWithoutExtension(p), EntryPoint(assembly, p, GetParamsMethod(), "GetParams", m => m.GetParameters().Length == 0,
            "public static IEnumerable<TParams> GetParams()"))).ToList();
        return new LoadedExperiment(experiment, experimentPath, run, getParams, compiled.Key, assembly);
    }

    private static MethodInfo EntryPoint(Assembly assembly, string file, Regex shape, string method, Func<MethodInfo, bool> fits, string expected)
    {
        var text = File.ReadAllText(file);
        var match = shape.Match(text);
        if (!match.Success) throw new ExperimentException($"{file}: has no {expected}");
        // The type declared last before the method is the one that holds it.
        var owner = TypeDeclaration().Matches(text[..match.Index]).LastOrDefault()?.Groups[1].Value;
        var candidates = assembly.GetTypes()
            .Where(t => owner is null || t.Name == owner)
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Where(m => m.Name == method && fits(m))
            .ToList();
        return candidates.Count == 1 ? candidates[0] : throw new ExperimentException($"{file}: {(candidates.Count == 0 ? "has no" : "has several")} {expected}");
    }
}

/// <summary>Bad input to an experiment run: one line naming the file, the flag or the value.</summary>
public sealed class ExperimentException(string message) : Exception(message);
