using System.Text.Json.Nodes;
using Kiln.Protocol;
using Kiln.Testing;

namespace Kiln.Cli.Tests;

/// <summary>
/// <c>kiln cb load --file</c> takes a callback in the language of the run's kernel: a Python file for a run of
/// clients/python (<c>kernel: python</c> in kiln.run.json), a C# file for Kiln's own; the other is refused at the prompt.
/// </summary>
public sealed class PythonCallbackCliTests
{
    private static string Run(TempDir tmp, string name, string? kernel)
    {
        var dir = tmp.Sub(name);
        var info = new RunInfo { Id = name, Kind = "run", Status = RunInfo.Completed, Kernel = kernel }.ToJson();
        File.WriteAllText(Path.Combine(dir, RunFiles.Run), info.ToJsonString());
        return dir;
    }

    [Fact]
    public void A_python_file_loads_into_a_python_run_and_is_refused_by_a_csharp_run()
    {
        using var tmp = new TempDir("pycb");
        var py = tmp.File("probe.py");
        File.WriteAllText(py, "class Probe:\n    def handle(self, event, env): pass\n    def set_params(self, **kw): pass\n");
        var cs = tmp.File("Probe.cs");
        File.WriteAllText(cs, "public class Probe {}\n");
        var python = Run(tmp, "python", RunInfo.PythonKernel);
        var csharp = Run(tmp, "csharp", null);
        Assert.DoesNotContain("\"kernel\"", File.ReadAllText(Path.Combine(csharp, RunFiles.Run)));

        var loaded = KilnProcess.Run(tmp.Path, "--dir", python, "cb", "load", "probe", "--file", py, "--symbol", "Probe", "--enabled");
        Assert.True(loaded.ExitCode == 0, loaded.ToString());
        var command = JsonNode.Parse(File.ReadAllLines(Path.Combine(python, RunFiles.Commands)).Single())!;
        Assert.Equal("file", (string)command["target"]!["kind"]!);
        Assert.Equal(py, (string)command["target"]!["path"]!);
        Assert.True((bool)command["enabled"]!);

        var wrongRun = KilnProcess.Run(tmp.Path, "--dir", csharp, "cb", "load", "probe", "--file", py);
        Assert.Equal(2, wrongRun.ExitCode);
        Assert.Contains("a Python callback needs a run whose kernel is Python", wrongRun.Stderr);
        Assert.False(File.Exists(Path.Combine(csharp, RunFiles.Commands)));

        var wrongFile = KilnProcess.Run(tmp.Path, "--dir", python, "cb", "load", "probe", "--file", cs);
        Assert.Equal(2, wrongFile.ExitCode);
        Assert.Contains("has a Python kernel; give a Python file (.py)", wrongFile.Stderr);
        Assert.Single(File.ReadAllLines(Path.Combine(python, RunFiles.Commands)));
    }
}
