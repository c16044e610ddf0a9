using System.Diagnostics;
using System.Xml.Linq;
using Kiln.Testing;

namespace Kiln.Cli.Tests;

/// <summary>Kiln as a .NET tool: installed from a folder of packages into a tool path of its own, then run.</summary>
public sealed class ToolInstallTests
{
    private static (int Exit, string Output) Run(string workingDir, string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { WorkingDirectory = workingDir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["NO_COLOR"] = "1";
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>The packages scripts/test.sh packed ($KILN_PACKAGES), or a fresh pack of the command line.</summary>
    private static string Packages(TempDir dir)
    {
        var given = Environment.GetEnvironmentVariable("KILN_PACKAGES");
        if (!string.IsNullOrEmpty(given) && Directory.GetFiles(given, "Kiln.Cli.*.nupkg").Length > 0) return given;
        var root = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", ".."));
        var out_ = dir.Sub("packages");
        var (exit, output) = Run(root, "dotnet", "pack", Path.Combine(root, "src", "Kiln.Cli", "Kiln.Cli.csproj"), "-c", "Release", "-o", out_, "-nologo");
        Assert.True(exit == 0, "dotnet pack failed: " + output);
        return out_;
    }

    private static string Version()
    {
        var root = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", ".."));
        return XDocument.Load(Path.Combine(root, "src", "Kiln.Cli", "Kiln.Cli.csproj")).Descendants("Version").Single().Value;
    }

    [Fact]
    public void The_tool_installs_from_a_package_folder_and_runs_the_demo()
    {
        using var dir = new TempDir("tool");
        var version = Version();
        var tools = dir.Sub("tools");
        var (installed, log) = Run(dir.Path, "dotnet", "tool", "install", "Kiln.Cli", "--tool-path", tools, "--add-source", Packages(dir), "--version", version);
        Assert.True(installed == 0, "dotnet tool install failed: " + log);
        var kiln = Path.Combine(tools, "kiln");

        var (exit, printed) = Run(dir.Path, kiln, "--version");
        Assert.Equal(0, exit);
        Assert.StartsWith(version, printed.Trim(), StringComparison.Ordinal);

        var work = dir.Sub("work");
        var (demo, output) = Run(work, kiln, "demo", "--exit-when-done", "--max-steps", "20", "--port", "0", "--data-dir", dir.Sub("no-data"), "--plain");
        Assert.True(demo == 0, output);
        Assert.Contains("run completed after 20 steps", output);
        Assert.Single(Directory.GetDirectories(Path.Combine(work, "runs")));
    }
}
