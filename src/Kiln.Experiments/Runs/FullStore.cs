using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Kiln.Experiments.Pipeline;
using Kiln.Experiments.Reporting;
using Kiln.IO;
using Kiln.Registry.Records;

namespace Kiln.Experiments.Runs;

/// <summary>
/// <c>--store-full</c>: <c>.kiln/stores/{reference}/</c> with every artifact of the run and its metadata
/// (<c>artifacts/</c>, a cache on its own: <c>--cache …/artifacts --dry-cache</c> reproduces the run and its report),
/// the report, the log, <c>run_info.json</c> and <c>environment.json</c> (.NET, OS, the assemblies and their versions).
/// </summary>
public static class FullStore
{
    public static void Write(string dir, ExperimentRunRecord run, ExperimentManager manager, RunLog log, string reports)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(manager);
        ArgumentNullException.ThrowIfNull(log);
        var artifacts = Path.Combine(dir, "artifacts");
        Directory.CreateDirectory(artifacts);
        var store = manager.Store;
        foreach (var node in manager.Nodes.Where(n => n.Key is not null))
        {
            var stem = Path.GetFileName(store.Base(node.Key!, node.Stage.Name));
            foreach (var file in Directory.EnumerateFiles(store.Directory, stem + "_*"))
            {
                if (file.EndsWith(".lock", StringComparison.Ordinal)) continue;
                File.Copy(file, Path.Combine(artifacts, Path.GetFileName(file)), overwrite: true);
            }
        }
        AtomicFile.WriteJson(Path.Combine(dir, "run_info.json"), run.ToJson());
        AtomicFile.WriteJson(Path.Combine(dir, "environment.json"), Environment());
        if (log.Path is { } logFile && File.Exists(logFile)) File.Copy(logFile, Path.Combine(dir, "run.log"), overwrite: true);
        var report = Path.Combine(reports, run.Reference);
        if (Directory.Exists(report)) RunReportWriter.CopyTree(report, Path.Combine(dir, "report"));
    }

    private static JsonObject Environment()
    {
        var assemblies = new JsonObject();
        foreach (var a in AppDomain.CurrentDomain.GetAssemblies().Where(a => !a.IsDynamic).OrderBy(a => a.GetName().Name, StringComparer.Ordinal))
        {
            var name = a.GetName();
            if (name.Name is { } n && !assemblies.ContainsKey(n)) assemblies[n] = name.Version?.ToString();
        }
        return new JsonObject
        {
            ["dotnet"] = RuntimeInformation.FrameworkDescription,
            ["os"] = RuntimeInformation.OSDescription,
            ["architecture"] = RuntimeInformation.ProcessArchitecture.ToString(),
            ["processors"] = System.Environment.ProcessorCount,
            ["assemblies"] = assemblies,
        };
    }
}
