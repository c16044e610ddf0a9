using System.Diagnostics;
using System.Globalization;
using Kiln.Experiments.Pipeline;
using Kiln.Registry.Records;
using Kiln.Registry.Workspace;

namespace Kiln.Experiments.Runs;

/// <summary>What <c>--docker</c> did: where the context is, and the image built from it (null when none could be).</summary>
public sealed record DockerContext(string Directory, string Image, bool Built, string? Why);

/// <summary>
/// <c>--docker</c>: a build context of the run in <c>.kiln/docker/{reference}/</c> — a Dockerfile on the .NET SDK image,
/// the code the run ran (<c>code.tar</c>: <c>git archive</c> of its snapshot ref, or of its commit when the tree was
/// clean), the experiment, parameter and stage files as run, the run's artifacts (its full store), a notebook that
/// reloads them inside the image, and the kiln that ran it — then <c>docker build</c> (or <c>podman build</c>) when an engine answers. A client with no engine
/// behind it (<c>docker info</c> fails) is said, and the context is left for a machine that has one.
/// </summary>
public static class DockerExport
{
    /// <summary>Where the context puts things in the image.</summary>
    private const string Workspace = "/workspace", Kiln = "/opt/kiln", Experiment = "/opt/kiln-experiment/experiment.dll";

    public static DockerContext Write(WorkspacePaths workspace, ExperimentRunRecord run, ExperimentRequest request, ExperimentManager manager, string storeDir,
        string? experimentAssembly, Action<LogLevel, string> log)
    {
        ArgumentNullException.ThrowIfNull(workspace);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(log);
        var context = Path.Combine(workspace.State, "docker", run.Reference);
        if (Directory.Exists(context)) Directory.Delete(context, recursive: true);
        Directory.CreateDirectory(context);
        var code = CodeArchive(workspace, run, Path.Combine(context, "code.tar"));
        CopyExperimentFiles(workspace, request, Path.Combine(context, "experiment"));
        var storeArtifacts = Path.Combine(storeDir, "artifacts");
        Reporting.RunReportWriter.CopyTree(storeArtifacts, Path.Combine(context, "artifacts"));
        Reporting.RunReportWriter.CopyTree(AppContext.BaseDirectory, Path.Combine(context, "kiln"));
        // The notebook as the image sees it: the store's artifacts, the kiln in /opt/kiln, the experiment as compiled here.
        if (experimentAssembly is not null) File.Copy(experimentAssembly, Path.Combine(context, "experiment.dll"), overwrite: true);
        var places = new RunNotebook.Places($"{Workspace}/{Store(run)}", Kiln, experimentAssembly is null ? null : Experiment);
        RunNotebook.Write(Path.Combine(context, "run.ipynb"), run, manager, places);
        File.WriteAllText(Path.Combine(context, "Dockerfile"), Dockerfile(run, request, code is not null, experimentAssembly is not null));
        if (code is null) log(LogLevel.Warning, $"--docker: {workspace.Root} is not in a git repository; the context holds the experiment, params and stage files, not the rest of the code");
        var image = "kiln-" + run.Reference.ToLowerInvariant();
        var engine = Engine(out var why);
        if (engine is null)
        {
            log(LogLevel.Warning, $"--docker: {why}; the build context is in {Path.GetRelativePath(workspace.Root, context)} (build it elsewhere with `docker build -t {image} {Path.GetRelativePath(workspace.Root, context)}`)");
            return new DockerContext(context, image, Built: false, why);
        }
        var (code2, output) = Tool(engine, "build", "-t", image, context);
        if (code2 != 0)
        {
            log(LogLevel.Error, $"--docker: {engine} build failed ({code2}): {Tail(output)}");
            return new DockerContext(context, image, Built: false, $"{engine} build failed");
        }
        log(LogLevel.Info, $"--docker: built image {image} ({engine} run -p 8080:8080 {image} serves the reports)");
        return new DockerContext(context, image, Built: true, null);
    }

    /// <summary>The code of the run as a tar, or null outside a repository: the snapshot ref holds a dirty tree as it was.</summary>
    private static string? CodeArchive(WorkspacePaths workspace, ExperimentRunRecord run, string tar)
    {
        var tree = run.SnapshotRef ?? run.GitCommit;
        if (tree is null) return null;
        var (code, output) = Tool("git", "-C", workspace.Root, "archive", "--format=tar", "-o", tar, tree);
        return code == 0 ? tar : throw new Loading.ExperimentException($"--docker: git archive {tree} failed: {Tail(output)}");
    }

    /// <summary>The experiment, its parameter files and the shared stage code, at their places in the workspace.</summary>
    private static void CopyExperimentFiles(WorkspacePaths workspace, ExperimentRequest request, string to)
    {
        var names = request.Params.Count == 0 ? [request.Experiment] : request.Params;
        var files = new List<string> { Path.Combine(workspace.Experiments, request.Experiment + ".cs") };
        foreach (var n in names)
        {
            var inParams = Path.Combine(workspace.ParamsDir, n + ".cs");
            files.Add(File.Exists(inParams) ? inParams : Path.Combine(workspace.Experiments, n + ".cs"));
        }
        var stages = Path.Combine(workspace.Root, "stages");
        if (Directory.Exists(stages)) files.AddRange(Directory.GetFiles(stages, "*.cs", SearchOption.AllDirectories));
        foreach (var file in files.Distinct(StringComparer.Ordinal).Where(File.Exists))
        {
            var target = Path.Combine(to, Path.GetRelativePath(workspace.Root, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
        }
        File.WriteAllText(Path.Combine(to, "kiln.json"), File.Exists(workspace.Config) ? File.ReadAllText(workspace.Config) : "{}");
    }

    private static string Store(ExperimentRunRecord run) => $".kiln/stores/{run.Reference}/artifacts";

    private static string Dockerfile(ExperimentRunRecord run, ExperimentRequest request, bool hasCode, bool hasExperiment)
    {
        var store = Store(run);
        var reproduce = ExperimentRunner.ReproduceArgs(request, store);
        var cmd = string.Join(", ", new List<string> { "kiln" }.Concat(reproduce).Select(a => System.Text.Json.JsonSerializer.Serialize(a)));
        return string.Create(CultureInfo.InvariantCulture, $"""
            # The run {run.Reference} of experiment {run.Experiment}, written by kiln --docker.
            # docker run IMAGE            reproduces the run from its artifacts (nothing is recomputed) and writes its report
            # docker run -p 8080:8080 IMAGE kiln reports --host 0.0.0.0 --port 8080    serves the reports (it prints the token)
            FROM mcr.microsoft.com/dotnet/sdk:10.0
            WORKDIR {Workspace}
            {(hasCode ? $"ADD code.tar {Workspace}/\n" : "")}COPY experiment/ {Workspace}/
            COPY artifacts/ {Workspace}/{store}/
            COPY run.ipynb {Workspace}/notebooks/experiments/{run.Reference}.ipynb
            {(hasExperiment ? $"COPY experiment.dll {Experiment}\n" : "")}COPY kiln/ {Kiln}/
            ENV PATH={Kiln}:$PATH
            EXPOSE 8080
            CMD [{cmd}]

            """);
    }

    /// <summary>The first of docker and podman whose engine answers, or null with why not.</summary>
    private static string? Engine(out string why)
    {
        var reasons = new List<string>();
        foreach (var tool in new[] { "docker", "podman" })
        {
            int code;
            string output;
            try
            {
                (code, output) = Tool(tool, "info");
            }
            catch (System.ComponentModel.Win32Exception)
            {
                reasons.Add($"no {tool} command");
                continue;
            }
            if (code == 0)
            {
                why = "";
                return tool;
            }
            reasons.Add($"`{tool} info` failed, so {tool} is a client with no engine to build with ({Tail(output)})");
        }
        why = string.Join("; ", reasons);
        return null;
    }

    private static (int Code, string Output) Tool(string program, params string[] args)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.GetAwaiter().GetResult() + stderr);
    }

    private static string Tail(string output)
    {
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? "no output" : lines[^1];
    }
}
