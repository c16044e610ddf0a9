using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Emit;

namespace Kiln.Scripting.Compilation;

/// <summary>A compiled user source: the assembly image and its debug symbols (so stack traces name lines).</summary>
public sealed record CompiledScript(string Key, byte[] Image, byte[] Pdb, bool FromCache);

/// <summary>
/// Compiles C# source files with Roslyn against the running process's assemblies (the BCL and Kiln's SDK:
/// Kiln.Core, Kiln.Train, …). Results are cached by content hash — in memory and on disk
/// (<c>$KILN_CACHE</c>, else <c>$XDG_CACHE_HOME/kiln</c> or <c>~/.cache/kiln</c>) — so a source compiles once per
/// machine. Roslyn's first compile is slow (seconds, cold); <see cref="WarmUp"/> pays that cost on a background
/// thread before the first load is asked for.
/// </summary>
public static class ScriptCompiler
{
    /// <summary>Global usings added to every source, so short callbacks need none.</summary>
    public static readonly string[] ImplicitUsings =
    [
        "System", "System.Collections.Generic", "System.IO", "System.Linq", "System.Threading", "System.Threading.Tasks",
        "System.Text.Json.Nodes", "Kiln.Kernel", "Kiln.Modules", "Kiln.Modules.Callbacks", "Kiln.Runs",
    ];

    private static readonly Lazy<string> ReferenceFingerprint = new(Fingerprint);
    private static readonly ConcurrentDictionary<string, CompiledScript> Memory = new(StringComparer.Ordinal);
    private static Task? _warmUp;

    /// <summary>Where compiled sources are kept between processes.</summary>
    public static string CacheDirectory { get; set; } = DefaultCacheDirectory();

    private static string DefaultCacheDirectory()
    {
        var root = Environment.GetEnvironmentVariable("KILN_CACHE");
        if (string.IsNullOrEmpty(root))
        {
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            root = Path.Combine(string.IsNullOrEmpty(xdg) ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache") : xdg, "kiln");
        }
        return Path.Combine(root, "scripts");
    }

    /// <summary>Starts loading Roslyn and compiling a small source on a background thread (once per process).</summary>
    public static Task WarmUp()
    {
        lock (Memory)
        {
            return _warmUp ??= Task.Run(() =>
            {
                // Shaped like a callback, so binding and emitting the first real one finds Roslyn's paths already jitted.
                const string probe = """
                    namespace KilnWarmUp;
                    public sealed class Probe(string id, int every = 10) : IKilnCallback
                    {
                        private readonly List<double> _seen = [];
                        public string Id { get; } = id;
                        public int Every { get; private set; } = every;
                        public void SetParams(JsonObject p) { if (p["every"] is { } e) Every = (int)e; }
                        public void Handle(string evt, KernelEnv env)
                        {
                            _seen.Add(env.Metric("loss"));
                            if (env.Step % Every == 0) env.Log($"[{Id}] {evt} step={env.Step} mean={_seen.Average():0.###}");
                        }
                        public void Close() => _seen.Clear();
                    }
                    """;
                Emit(Encoding.UTF8.GetBytes(probe), "kiln-warmup.cs", "KilnWarmUp");
            });
        }
    }

    /// <summary>
    /// Compiles <paramref name="source"/> (shown in errors as <paramref name="displayPath"/>), or returns the cached
    /// result for the same bytes. Throws <see cref="CompilationFailedException"/> listing every error as
    /// <c>file(line,col): error CSxxxx: message</c>.
    /// </summary>
    public static CompiledScript Compile(byte[] source, string displayPath)
    {
        var key = Key(source);
        if (Memory.TryGetValue(key, out var cached)) return cached with { FromCache = true };
        if (ReadDisk(key) is { } fromDisk)
        {
            Memory[key] = fromDisk;
            return fromDisk;
        }
        var (image, pdb) = Emit(source, displayPath, "kiln-script-" + key[..16]);
        var compiled = new CompiledScript(key, image, pdb, FromCache: false);
        Memory[key] = compiled;
        WriteDisk(compiled);
        return compiled;
    }

    /// <summary>
    /// Compiles several sources into one assembly (an experiment with its parameter files, which share types), or
    /// returns the cached result. The key covers every source's path and bytes, in order.
    /// </summary>
    public static CompiledScript Compile(IReadOnlyList<(byte[] Source, string DisplayPath)> sources)
    {
        ArgumentNullException.ThrowIfNull(sources);
        if (sources.Count == 1) return Compile(sources[0].Source, sources[0].DisplayPath);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (source, path) in sources)
        {
            var name = Encoding.UTF8.GetBytes(path);
            sha.AppendData(BitConverter.GetBytes(name.Length));
            sha.AppendData(name);
            sha.AppendData(BitConverter.GetBytes(source.Length));
            sha.AppendData(source);
        }
        var key = Key(sha.GetHashAndReset());
        if (Memory.TryGetValue(key, out var cached)) return cached with { FromCache = true };
        if (ReadDisk(key) is { } fromDisk)
        {
            Memory[key] = fromDisk;
            return fromDisk;
        }
        var (image, pdb) = Emit(sources, "kiln-script-" + key[..16]);
        var compiled = new CompiledScript(key, image, pdb, FromCache: false);
        Memory[key] = compiled;
        WriteDisk(compiled);
        return compiled;
    }

    /// <summary>The cache key: the source's bytes, the compiler, and the exact assemblies it compiles against.</summary>
    public static string Key(byte[] source)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(source);
        sha.AppendData(Encoding.UTF8.GetBytes("\0" + ReferenceFingerprint.Value));
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    private static (byte[] Image, byte[] Pdb) Emit(byte[] source, string displayPath, string assemblyName) =>
        Emit([(source, displayPath)], assemblyName);

    private static (byte[] Image, byte[] Pdb) Emit(IReadOnlyList<(byte[] Source, string DisplayPath)> sources, string assemblyName)
    {
        var trees = sources.Select(s => CSharpSyntaxTree.ParseText(
            Microsoft.CodeAnalysis.Text.SourceText.From(s.Source, s.Source.Length, Encoding.UTF8, canBeEmbedded: true), Roslyn.ParseOptions, path: s.DisplayPath));
        var displayPath = string.Join(", ", sources.Select(s => s.DisplayPath));
        var compilation = CSharpCompilation.Create(assemblyName, [.. trees, Roslyn.GlobalUsings], Roslyn.References,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary,
                optimizationLevel: OptimizationLevel.Release,
                nullableContextOptions: NullableContextOptions.Enable,
                deterministic: true,
                concurrentBuild: false));
        using var image = new MemoryStream();
        using var pdb = new MemoryStream();
        var result = compilation.Emit(image, pdb, options: new EmitOptions(debugInformationFormat: DebugInformationFormat.PortablePdb));
        if (!result.Success)
        {
            var errors = result.Diagnostics
                .Where(d => d.Severity == DiagnosticSeverity.Error)
                .OrderBy(d => d.Location.GetLineSpan().StartLinePosition)
                .Select(Format)
                .ToList();
            throw new CompilationFailedException(displayPath, errors);
        }
        return (image.ToArray(), pdb.ToArray());
    }

    /// <summary><c>file(line,col): error CSxxxx: message</c>, lines and columns counted from 1.</summary>
    public static string Format(Diagnostic d)
    {
        var span = d.Location.GetLineSpan();
        var where = d.Location.IsInSource ? $"{span.Path}({span.StartLinePosition.Line + 1},{span.StartLinePosition.Character + 1})" : "<compilation>";
        return $"{where}: {d.Severity.ToString().ToLowerInvariant()} {d.Id}: {d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)}";
    }

    /// <summary>
    /// What only a compile needs, in its own type so that its initializer — which loads Roslyn and parses — runs on the
    /// first compile, never on a load from the cache.
    /// </summary>
    private static class Roslyn
    {
        public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

        public static readonly SyntaxTree GlobalUsings = CSharpSyntaxTree.ParseText(
            Microsoft.CodeAnalysis.Text.SourceText.From(string.Concat(ImplicitUsings.Select(u => $"global using {u};\n")), Encoding.UTF8),
            ParseOptions, path: "kiln-implicit-usings.cs");

        public static readonly ImmutableArray<MetadataReference> References =
            [.. ReferencePaths().Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))];
    }

    /// <summary>
    /// The process's trusted assemblies — the shared framework and the application's own (Kiln.Core, and Kiln.Train
    /// or whatever else the host ships) — and any Kiln assembly loaded from elsewhere.
    /// </summary>
    private static List<string> ReferencePaths()
    {
        var tpa = (AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") as string ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        var paths = new HashSet<string>(tpa, StringComparer.Ordinal);
        foreach (var a in AppDomain.CurrentDomain.GetAssemblies())
        {
            if (a.IsDynamic || a.IsCollectible || string.IsNullOrEmpty(a.Location)) continue;
            if (a.GetName().Name?.StartsWith("Kiln.", StringComparison.Ordinal) == true) paths.Add(a.Location);
        }
        return [.. paths.Where(File.Exists).Order(StringComparer.Ordinal)];
    }

    /// <summary>
    /// What a compiled source depends on: the compiler, the runtime and the build of every Kiln assembly it can see. The
    /// compiler's version is read from this assembly's references, so a load from the cache does not load Roslyn.
    /// </summary>
    private static string Fingerprint()
    {
        var compiler = typeof(ScriptCompiler).Assembly.GetReferencedAssemblies().FirstOrDefault(a => a.Name == "Microsoft.CodeAnalysis.CSharp");
        var sb = new StringBuilder(compiler?.Version?.ToString());
        sb.Append('|').Append(typeof(object).Assembly.ManifestModule.ModuleVersionId);
        foreach (var path in ReferencePaths())
        {
            var name = Path.GetFileName(path);
            if (!name.StartsWith("Kiln.", StringComparison.Ordinal)) continue;
            var file = new FileInfo(path);
            sb.Append('|').Append(name).Append(':').Append(file.Length).Append(':').Append(file.LastWriteTimeUtc.Ticks);
        }
        return sb.ToString();
    }

    /// <summary>The compiled assembly of <paramref name="key"/> in the disk cache, or null when it is not there.</summary>
    public static string? CachedAssembly(string key)
    {
        var dll = Path.Combine(CacheDirectory, key + ".dll");
        return File.Exists(dll) ? dll : null;
    }

    private static CompiledScript? ReadDisk(string key)
    {
        try
        {
            var dll = Path.Combine(CacheDirectory, key + ".dll");
            var sum = Path.Combine(CacheDirectory, key + ".sha256");
            if (!File.Exists(dll) || !File.Exists(sum)) return null;
            var image = File.ReadAllBytes(dll);
            var pdbPath = Path.Combine(CacheDirectory, key + ".pdb");
            var pdb = File.Exists(pdbPath) ? File.ReadAllBytes(pdbPath) : [];
            // A damaged cache entry is recompiled, never trusted.
            if (File.ReadAllText(sum).Trim() != Checksum(image, pdb)) return null;
            return new CompiledScript(key, image, pdb, FromCache: true);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static void WriteDisk(CompiledScript compiled)
    {
        try
        {
            Directory.CreateDirectory(CacheDirectory);
            Kiln.IO.AtomicFile.WriteAllBytes(Path.Combine(CacheDirectory, compiled.Key + ".dll"), compiled.Image, durable: false);
            Kiln.IO.AtomicFile.WriteAllBytes(Path.Combine(CacheDirectory, compiled.Key + ".pdb"), compiled.Pdb, durable: false);
            Kiln.IO.AtomicFile.WriteAllText(Path.Combine(CacheDirectory, compiled.Key + ".sha256"), Checksum(compiled.Image, compiled.Pdb), durable: false);
        }
        catch (IOException)
        {
            // The cache is an optimisation: an unwritable cache directory costs a compile next time, nothing more.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static string Checksum(byte[] image, byte[] pdb)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(image);
        sha.AppendData(pdb);
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>Forgets the in-memory cache (tests use it to exercise the disk cache).</summary>
    internal static void ClearMemory() => Memory.Clear();
}

/// <summary>A source that did not compile; <see cref="Errors"/> are <c>file(line,col): error CSxxxx: message</c>.</summary>
public sealed class CompilationFailedException(string path, IReadOnlyList<string> errors)
    : Exception($"{path} does not compile: {string.Join("; ", errors)}")
{
    public string Path { get; } = path;
    public IReadOnlyList<string> Errors { get; } = errors;
}
