using System.Globalization;
using System.Text;
using Kiln.Experiments.Caching;
using Kiln.Experiments.Pipeline;
using Kiln.IO;
using Kiln.Registry.Records;
using Microsoft.DotNet.Interactive.Documents;
using Microsoft.DotNet.Interactive.Documents.Jupyter;

namespace Kiln.Experiments.Runs;

/// <summary>
/// <c>--notebook</c>: <c>notebooks/experiments/{reference}.ipynb</c>, a Polyglot Notebook (nbformat 4, C# cells) that
/// references the Kiln assemblies and the run's compiled experiment, then reloads every cached output of every record
/// as a typed variable, each verified against its content hash as the run's own loads are. Written through
/// Microsoft.DotNet.Interactive.Documents, which gives the kernelspec (<c>.net-csharp</c>) and each cell's
/// <c>dotnet_interactive</c> metadata as the notebook front ends expect them.
/// </summary>
public static class RunNotebook
{
    /// <summary>Where the notebook finds things: the cache to read, the folder of Kiln's assemblies, the compiled experiment.</summary>
    public sealed record Places(string Cache, string KilnDirectory, string? ExperimentAssembly);

    /// <summary>This machine's places: the run's cache, the running Kiln's folder.</summary>
    public static Places Here(ExperimentManager manager, string? experimentAssembly)
    {
        ArgumentNullException.ThrowIfNull(manager);
        return new Places(manager.Store.Directory, Path.GetDirectoryName(typeof(ExperimentManager).Assembly.Location)!, experimentAssembly);
    }

    public static string Write(string path, ExperimentRunRecord run, ExperimentManager manager, Places places)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(manager);
        ArgumentNullException.ThrowIfNull(places);
        var document = new InteractiveDocument();
        document.Add(Markdown(Header(run)));
        document.Add(Code(References(places)));
        var store = manager.Store;
        document.Add(Code($"""
            using Kiln.Experiments.Caching;

            // The run's cache, read-only: every load below checks the artifact's content hash.
            var cache = new ArtifactStore({Literal(places.Cache)}, {Literal(store.Prefix)}, readOnly: true);
            """));
        var names = new HashSet<string>(StringComparer.Ordinal) { "cache" };
        foreach (var record in manager.Records.Concat(manager.Nodes.Select(n => n.Record)).Distinct())
        {
            if (Record(record, store, names) is { } cell) document.Add(Code(cell));
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        AtomicFile.WriteAllText(path, document.ToJupyterJson("csharp"), durable: false);
        return path;
    }

    private static string Header(ExperimentRunRecord run)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"# {run.Experiment} run {run.RunNumber}: `{run.Reference}`\n\n");
        sb.Append(CultureInfo.InvariantCulture, $"- status: {run.Status}\n");
        if (run.GitCommit is { } commit) sb.Append(CultureInfo.InvariantCulture, $"- commit: `{commit}`{(run.Dirty == true ? $" (dirty; snapshot `{run.SnapshotRef}`)" : "")}\n");
        sb.Append(CultureInfo.InvariantCulture, $"- command: `kiln {run.Cli}`\n");
        if (run.Reproduce is { } reproduce) sb.Append(CultureInfo.InvariantCulture, $"- reproduce: `kiln {reproduce}`\n");
        if (!string.IsNullOrWhiteSpace(run.Notes)) sb.Append("\n").Append(run.Notes).Append('\n');
        return sb.ToString();
    }

    /// <summary>The assemblies the cells need, by path: Kiln's own and the experiment as the run compiled it.</summary>
    private static string References(Places places)
    {
        var sb = new StringBuilder();
        foreach (var a in new[] { typeof(Kiln.IO.AtomicFile).Assembly, typeof(ExperimentManager).Assembly })
            sb.Append(CultureInfo.InvariantCulture, $"#r {Literal(Path.Combine(places.KilnDirectory, Path.GetFileName(a.Location)))}\n");
        if (places.ExperimentAssembly is { } experiment) sb.Append(CultureInfo.InvariantCulture, $"#r {Literal(experiment)}\n");
        else sb.Append("// The compiled experiment is not on disk (its compile cache could not be written): outputs of its own types cannot be loaded.\n");
        return sb.ToString();
    }

    /// <summary>One record's cached outputs as typed variables; null when it has none.</summary>
    private static string? Record(Record record, ArtifactStore store, HashSet<string> names)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"// {record.ReferenceName}, params hash {record.Hash}\n");
        var any = false;
        foreach (var node in record.Nodes)
        {
            for (var i = 0; i < node.OutputNames.Count; i++)
            {
                var output = node.OutputNames[i];
                if (node.Key is null || node.Cachers[i] is not { } cacher || node.Outputs[i].Version is null)
                {
                    sb.Append(CultureInfo.InvariantCulture, $"// {node.Stage.Name}.{output}: not cached{(node.Status == StageStatus.Failed ? " (the stage failed)" : "")}\n");
                    continue;
                }
                var type = CSharpTypeName.Of(node.OutputTypes[i]);
                var make = cacher.GetType().GetConstructor(Type.EmptyTypes) is not null
                    ? $"new {CSharpTypeName.Of(cacher.GetType())}()"
                    : $"/* a {cacher.GetType().Name} made as the stage makes it */ null!";
                var variable = Variable(record, output, names);
                sb.Append(CultureInfo.InvariantCulture, $"var {variable} = cache.Load<{type}>({Literal(node.Key)}, {Literal(node.Stage.Name)}, {Literal(output)}, {make});\n");
                any = true;
            }
        }
        return any ? sb.ToString() : null;
    }

    private static string Variable(Record record, string output, HashSet<string> names)
    {
        var label = record.IsAggregate ? "aggregate" : record.Params?.Name ?? "record" + record.Index.ToString(CultureInfo.InvariantCulture);
        var raw = $"{label}_{output}";
        var name = new StringBuilder();
        foreach (var c in raw) name.Append(char.IsLetterOrDigit(c) || c == '_' ? c : '_');
        if (!char.IsLetter(name[0]) && name[0] != '_') name.Insert(0, '_');
        var unique = name.ToString();
        for (var n = 2; !names.Add(unique); n++) unique = $"{name}_{n}";
        return unique;
    }

    private static string Literal(string text) => "@\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static InteractiveDocumentElement Code(string source) => new(source.TrimEnd('\n'), "csharp");

    private static InteractiveDocumentElement Markdown(string source) => new(source.TrimEnd('\n'), "markdown");
}
