using System.Diagnostics;
using System.Formats.Tar;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Kiln.Experiments.Caching;
using Kiln.Testing;

namespace Kiln.Experiments.Tests;

/// <summary><c>--notebook</c> and <c>--docker</c> with the published kiln: what they write, read back.</summary>
public sealed partial class ExportCliTests : IDisposable
{
    private readonly ExperimentWorkspace _workspace = new("export-cli");

    public void Dispose() => _workspace.Dispose();

    private KilnProcess.Result Kiln(params string[] args) => _workspace.Kiln(args);

    [GeneratedRegex("""var (\w+) = cache\.Load<(.+?)>\(@"([0-9a-f]{64})", @"(\w+)", @"(\w+)", new Kiln\.Experiments\.Caching\.JsonCacher\(\)\);""")]
    private static partial Regex LoadLine();

    private static IEnumerable<string> Sources(JsonNode notebook, string type) =>
        notebook["cells"]!.AsArray().Where(c => (string?)c!["cell_type"] == type).Select(c => string.Concat(c!["source"]!.AsArray().Select(l => (string?)l)));

    [Fact]
    public void A_notebook_references_kiln_and_reloads_every_cached_output()
    {
        var run = Kiln("experiment", "demo", "-p", "basic", "--notebook");
        Assert.True(run.ExitCode == 0, run.ToString());
        var file = Directory.GetFiles(_workspace.Dir.File("notebooks/experiments"), "*.ipynb").Single();
        var notebook = JsonNode.Parse(File.ReadAllText(file))!;
        Assert.Equal(4, (int)notebook["nbformat"]!);
        Assert.Equal(".net-csharp", (string?)notebook["metadata"]!["kernelspec"]!["name"]);
        foreach (var cell in notebook["cells"]!.AsArray().Where(c => (string?)c!["cell_type"] == "code"))
            Assert.Equal("csharp", (string?)cell!["metadata"]!["dotnet_interactive"]!["language"]);
        Assert.Contains(Path.GetFileNameWithoutExtension(file), Sources(notebook, "markdown").Single(), StringComparison.Ordinal);

        var code = Sources(notebook, "code").ToList();
        var references = Regex.Matches(code[0], "#r @\"(.+)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(["Kiln.Core.dll", "Kiln.Experiments.dll"], references.Take(2).Select(Path.GetFileName));
        Assert.All(references, r => Assert.True(File.Exists(r), r));
        Assert.Equal(3, references.Count); // and the compiled experiment
        Assert.Contains($"new ArtifactStore(@\"{Path.GetFullPath(_workspace.Dir.File(".kiln/cache"))}\", @\"demo\", readOnly: true)", code[1], StringComparison.Ordinal);

        // Each load line, run as written: the outputs of both records come back, verified.
        var loads = code.Skip(2).SelectMany(c => LoadLine().Matches(c)).ToList();
        Assert.Equal(["small_data", "small_scaled", "big_data", "big_scaled"], loads.Select(m => m.Groups[1].Value));
        var cache = new ArtifactStore(_workspace.Dir.File(".kiln/cache"), "demo", readOnly: true);
        var data = loads.Where(m => m.Groups[2].Value == "int[]").Select(m => cache.Load<int[]>(m.Groups[3].Value, m.Groups[4].Value, m.Groups[5].Value, new JsonCacher())).ToList();
        Assert.Equal([[0, 1], [0, 1, 2, 3, 4]], data);
        Assert.Equal("double[]", loads[1].Groups[2].Value);
    }

    [Fact]
    public void Docker_writes_a_build_context_of_the_run_and_says_when_no_engine_can_build_it()
    {
        GitCommand.Run(_workspace.Dir.Path, "init", "-q");
        GitCommand.Run(_workspace.Dir.Path, "add", "experiments", "params", "kiln.json");
        GitCommand.Run(_workspace.Dir.Path, "commit", "-q", "-m", "the experiment");
        var run = Kiln("experiment", "demo", "-p", "basic", "--docker");
        Assert.True(run.ExitCode == 0, run.ToString());
        var context = Directory.GetDirectories(_workspace.Dir.File(".kiln/docker")).Single();
        var reference = Path.GetFileName(context);
        if (!EngineAnswers()) Assert.Contains("client with no engine", run.Stdout + run.Stderr, StringComparison.Ordinal);

        var dockerfile = File.ReadAllText(Path.Combine(context, "Dockerfile"));
        Assert.Contains("FROM mcr.microsoft.com/dotnet/sdk:10.0", dockerfile, StringComparison.Ordinal);
        Assert.Contains($"CMD [\"kiln\", \"experiment\", \"demo\", \"-p\", \"basic\", \"--cache\", \".kiln/stores/{reference}/artifacts\", \"--dry-cache\"]", dockerfile, StringComparison.Ordinal);
        Assert.DoesNotContain("--docker", dockerfile.Split('\n').Single(l => l.StartsWith("CMD", StringComparison.Ordinal)), StringComparison.Ordinal);

        // The code as committed (git archive of the run's commit), and the files as run.
        using (var tar = new TarReader(File.OpenRead(Path.Combine(context, "code.tar"))))
        {
            var names = new List<string>();
            while (tar.GetNextEntry() is { } entry) names.Add(entry.Name);
            Assert.Contains("experiments/demo.cs", names);
            Assert.Contains("params/basic.cs", names);
        }
        Assert.Equal(ExperimentWorkspace.Experiment, File.ReadAllText(Path.Combine(context, "experiment/experiments/demo.cs")));
        Assert.Equal(ExperimentWorkspace.Params, File.ReadAllText(Path.Combine(context, "experiment/params/basic.cs")));
        Assert.Equal(4, Directory.GetFiles(Path.Combine(context, "artifacts"), "*_metadata.json").Length);
        Assert.True(File.Exists(Path.Combine(context, "kiln", "kiln.dll")));
        Assert.True(File.Exists(Path.Combine(context, "experiment.dll")));
        // The notebook as the image sees it.
        var notebook = File.ReadAllText(Path.Combine(context, "run.ipynb"));
        Assert.Contains($"/workspace/.kiln/stores/{reference}/artifacts", notebook, StringComparison.Ordinal);
        Assert.Contains("#r @\\\"/opt/kiln/Kiln.Experiments.dll\\\"", notebook, StringComparison.Ordinal);
        // --docker keeps the full store it copies from, and a notebook on this machine too.
        Assert.True(Directory.Exists(_workspace.Dir.File($".kiln/stores/{reference}/artifacts")));
        Assert.True(File.Exists(_workspace.Dir.File($"notebooks/experiments/{reference}.ipynb")));
    }

    private static bool EngineAnswers()
    {
        foreach (var tool in new[] { "docker", "podman" })
        {
            try
            {
                using var p = Process.Start(new ProcessStartInfo(tool, "info") { RedirectStandardOutput = true, RedirectStandardError = true })!;
                p.StandardOutput.ReadToEnd();
                p.StandardError.ReadToEnd();
                p.WaitForExit();
                if (p.ExitCode == 0) return true;
            }
            catch (System.ComponentModel.Win32Exception)
            {
            }
        }
        return false;
    }
}
