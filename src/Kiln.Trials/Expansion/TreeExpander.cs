using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Kiln.IO;
using Kiln.Protocol;

namespace Kiln.Trials.Expansion;

/// <summary>Which parts of a tree to expand or run: modes and datasets (all when empty).</summary>
public sealed record TrialFilter(IReadOnlyCollection<string>? Modes = null, IReadOnlyCollection<string>? Datasets = null)
{
    public static readonly TrialFilter All = new();

    public bool Includes(string mode, string dataset) =>
        (Modes is null || Modes.Count == 0 || Modes.Contains(mode)) && (Datasets is null || Datasets.Count == 0 || Datasets.Contains(dataset));
}

/// <summary>One resolved trial: its directory, its position in the grid and its configuration.</summary>
public sealed record TrialSpec(string Leaf, string Mode, string Dataset, string Model, string Trainer, int Index, int Count,
    string Dir, JsonObject Config, JsonObject Swept)
{
    /// <summary><c>sweep/fashion_mnist/mlp/adam/trial_003</c>: the trial's path under out/log.</summary>
    public string Name => $"{Mode}/{Dataset}/{Model}/{Trainer}/{Path.GetFileName(Dir)}";
}

/// <summary>What expanding one leaf did.</summary>
public sealed record LeafExpansion(string Leaf, string Mode, string Dataset, string Model, string Trainer,
    IReadOnlyList<string> Axes, IReadOnlyList<TrialSpec> Trials, int Written, IReadOnlyList<string> Surplus, IReadOnlyList<string> Stale);

/// <summary>The result of expanding a tree: the leaves that expanded and the errors of those that did not.</summary>
public sealed record ExpansionResult(IReadOnlyList<LeafExpansion> Leaves, IReadOnlyList<string> Errors)
{
    public IEnumerable<TrialSpec> Trials => Leaves.SelectMany(l => l.Trials);
}

/// <summary>
/// Expands <c>cfg/&lt;mode&gt;/&lt;dataset&gt;/&lt;model&gt;/&lt;trainer&gt;/cfg.yaml</c> leaves into trials (docs/trials.md):
/// each leaf is merged with every ancestor <c>cfg.yaml</c> up to <c>cfg/</c> (shallow: a child's top-level key replaces
/// the parent's); list-valued keys other than the structural ones (<c>batch_metrics</c>) are sweep axes whose Cartesian
/// product gives the trials, in key order with the last axis varying fastest; <c>seed</c> is required, and
/// <c>sweep</c> mode wants it scalar while <c>experiment</c> mode sweeps nothing but it. Resolved configurations are
/// written to <c>out/log/…/trial_###/cfg.yaml</c> whenever they changed; trial folders beyond a shrunk grid are
/// reported, never deleted.
/// </summary>
public static class TreeExpander
{
    public static readonly string[] Modes = ["sweep", "experiment"];
    public static readonly string[] Structural = ["batch_metrics"];

    /// <summary>Written beside each trial's configuration: where it came from and what it sweeps.</summary>
    public const string TrialFile = RunFiles.Trial;

    public static ExpansionResult Expand(string root, TrialFilter? filter = null, bool write = true)
    {
        filter ??= TrialFilter.All;
        var cfgRoot = Path.Combine(Path.GetFullPath(root), TrialPaths.ConfigRoot);
        if (!Directory.Exists(cfgRoot)) throw new ProtocolException($"{cfgRoot}: no config tree here (expected cfg/<mode>/<dataset>/<model>/<trainer>/cfg.yaml)");
        var errors = new List<string>();
        var leaves = new List<string>();
        foreach (var file in Directory.EnumerateFiles(cfgRoot, TrialPaths.ConfigFile, SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var depth = Path.GetRelativePath(cfgRoot, Path.GetDirectoryName(file)!).Split(Path.DirectorySeparatorChar).Length;
            if (Path.GetDirectoryName(file) == cfgRoot) continue;
            if (depth == 4) leaves.Add(file);
            else if (depth > 4) errors.Add($"{Rel(root, file)}: too deep; leaves are cfg/<mode>/<dataset>/<model>/<trainer>/cfg.yaml");
        }
        var parsed = new ConcurrentDictionary<string, (JsonObject? Doc, string? Error)>(StringComparer.Ordinal);
        var results = new List<LeafExpansion>();
        foreach (var leaf in leaves)
        {
            var parts = Path.GetRelativePath(cfgRoot, Path.GetDirectoryName(leaf)!).Split(Path.DirectorySeparatorChar);
            var (mode, dataset, model, trainer) = (parts[0], parts[1], parts[2], parts[3]);
            if (!filter.Includes(mode, dataset)) continue;
            try
            {
                results.Add(ExpandLeaf(root, cfgRoot, leaf, mode, dataset, model, trainer, parsed, write));
            }
            catch (ProtocolException ex)
            {
                errors.Add(ex.Message);
            }
        }
        return new ExpansionResult(results, errors);
    }

    private static string Rel(string root, string path) => Path.GetRelativePath(Path.GetFullPath(root), path);

    private static LeafExpansion ExpandLeaf(string root, string cfgRoot, string leaf, string mode, string dataset, string model, string trainer,
        ConcurrentDictionary<string, (JsonObject? Doc, string? Error)> parsed, bool write)
    {
        var leafName = Rel(root, leaf);
        if (Array.IndexOf(Modes, mode) < 0)
            throw new ProtocolException($"{leafName}: unknown mode \"{mode}\" (cfg/<mode> must be {string.Join(" or ", Modes)})");

        // Merge from the root down, remembering which file set each key.
        var merged = new JsonObject();
        var origin = new Dictionary<string, string>(StringComparer.Ordinal);
        var dir = cfgRoot;
        foreach (var part in new[] { "", mode, dataset, model, trainer })
        {
            if (part.Length > 0) dir = Path.Combine(dir, part);
            var file = Path.Combine(dir, TrialPaths.ConfigFile);
            if (!File.Exists(file)) continue;
            var (doc, error) = parsed.GetOrAdd(file, f => Parse(root, f));
            if (error is not null) throw new ProtocolException(error);
            foreach (var (key, value) in doc!)
            {
                merged[key] = value?.DeepClone();
                origin[key] = Rel(root, file);
            }
        }

        if (!merged.ContainsKey("seed"))
            throw new ProtocolException($"{leafName}: seed: missing (give a scalar seed, or a list of seeds to sweep)");
        var axes = merged.Where(kv => kv.Value is JsonArray && Array.IndexOf(Structural, kv.Key) < 0).Select(kv => kv.Key).ToList();
        foreach (var axis in axes)
        {
            if (merged[axis]!.AsArray().Count == 0) throw new ProtocolException($"{origin[axis]}: {axis}: an empty list makes no trials");
        }
        if (mode == "sweep" && axes.Contains("seed"))
            throw new ProtocolException($"{origin["seed"]}: seed: sweep mode needs a scalar seed, got a list of {merged["seed"]!.AsArray().Count} (seed lists belong in experiment mode)");
        if (mode == "experiment" && axes.FirstOrDefault(a => a != "seed") is { } other)
            throw new ProtocolException($"{origin[other]}: {other}: experiment mode sweeps only the seed; {other} must be a scalar (a list of {merged[other]!.AsArray().Count} was given)");

        var sizes = axes.Select(a => merged[a]!.AsArray().Count).ToArray();
        long total = 1;
        foreach (var s in sizes) total *= s;
        if (total > 1_000_000) throw new ProtocolException($"{leafName}: the grid has {total} trials; more than 1,000,000 is surely a mistake");
        var count = (int)total;
        var outDir = Path.Combine(Path.GetFullPath(root), TrialPaths.LogRoot, mode, dataset, model, trainer);
        var width = Math.Max(3, (count - 1).ToString(System.Globalization.CultureInfo.InvariantCulture).Length);
        var trials = new TrialSpec[count];
        var written = 0;
        var stale = new ConcurrentBag<string>();
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
        {
            var config = (JsonObject)merged.DeepClone();
            var swept = new JsonObject();
            var rest = i;
            for (var a = axes.Count - 1; a >= 0; a--)
            {
                var value = merged[axes[a]]!.AsArray()[rest % sizes[a]]?.DeepClone();
                rest /= sizes[a];
                config[axes[a]] = value;
            }
            foreach (var axis in axes) swept[axis] = config[axis]?.DeepClone();
            var trialDir = Path.Combine(outDir, "trial_" + i.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(width, '0'));
            var spec = new TrialSpec(leafName, mode, dataset, model, trainer, i, count, trialDir, config, swept);
            trials[i] = spec;
            var text = Render(spec);
            if (write && WriteTrial(spec, text)) Interlocked.Increment(ref written);
            if (TrialState.IsStale(spec.Dir, Hash(text))) stale.Add(spec.Name);
        });
        var surplus = Directory.Exists(outDir)
            ? Directory.GetDirectories(outDir, "trial_*").Select(Path.GetFileName).OfType<string>()
                .Where(n => int.TryParse(n.AsSpan(6), out var k) && k >= count).Order(StringComparer.Ordinal).ToList()
            : [];
        return new LeafExpansion(leafName, mode, dataset, model, trainer, axes, trials, written, surplus, stale.Order(StringComparer.Ordinal).ToList());
    }

    private static (JsonObject? Doc, string? Error) Parse(string root, string file)
    {
        try
        {
            return YamlJson.ParseFile(file) switch
            {
                null => (new JsonObject(), null),
                JsonObject o => (o, null),
                var other => (null, $"{Rel(root, file)}: expected a mapping of keys, got {JsonValues.Show(other)}"),
            };
        }
        catch (ProtocolException ex)
        {
            return (null, ex.Message.Replace(file, Rel(root, file), StringComparison.Ordinal));
        }
    }

    /// <summary>The text of a trial's cfg.yaml: a header saying where it came from, then the resolved keys.</summary>
    public static string Render(TrialSpec spec)
    {
        var sb = new StringBuilder();
        sb.Append("# Trial ").Append(spec.Index).Append(" of ").Append(spec.Count).Append(", expanded from ").Append(spec.Leaf).Append(" and its ancestors.\n");
        sb.Append("# Edit the cfg/ tree, not this file: `kiln trials expand` rewrites it.\n");
        if (spec.Swept.Count > 0)
            sb.Append("# swept: ").Append(string.Join(", ", spec.Swept.Select(kv => kv.Key + "=" + YamlWriter.Flow(kv.Value)))).Append('\n');
        sb.Append(YamlWriter.Write(spec.Config));
        return sb.ToString();
    }

    public static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    /// <summary>Writes the trial's cfg.yaml and kiln.trial.json when they changed; returns whether cfg.yaml was written.</summary>
    private static bool WriteTrial(TrialSpec spec, string text)
    {
        var cfg = Path.Combine(spec.Dir, TrialPaths.ConfigFile);
        var changed = !File.Exists(cfg) || File.ReadAllText(cfg) != text;
        if (changed)
        {
            Directory.CreateDirectory(spec.Dir);
            AtomicFile.WriteAllText(cfg, text, durable: false);
        }
        var info = new JsonObject
        {
            ["leaf"] = spec.Leaf,
            ["index"] = spec.Index,
            ["count"] = spec.Count,
            ["swept"] = spec.Swept.DeepClone(),
            ["cfg_sha256"] = Hash(text),
        };
        var infoPath = Path.Combine(spec.Dir, TrialFile);
        var infoText = info.ToJsonString() + "\n";
        if (changed || !File.Exists(infoPath) || File.ReadAllText(infoPath) != infoText)
            AtomicFile.WriteAllText(infoPath, infoText, durable: false);
        return changed;
    }
}
