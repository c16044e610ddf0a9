using System.Diagnostics;
using System.Text.Json.Nodes;
using Kiln.Modules;
using Kiln.Modules.Callbacks;
using Kiln.Runs;

namespace Kiln.Core.Tests;

/// <summary>
/// The test assembly is also a program, so a test can train in a process of its own and watch how that process ends:
/// <c>dotnet exec Kiln.Core.Tests.dll &lt;scenario&gt; &lt;run dir&gt;</c> trains a <see cref="KilnRun"/> whose callback, at
/// step 5, calls <c>Environment.Exit(3)</c> (<c>exit</c>), overflows the stack (<c>overflow</c>), or throws on a thread
/// of its own (<c>crash</c>).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args is not [var scenario, var dir]) return 2;
        using var run = KilnRun.Start(dir, new RunOptions { Log = Console.Error.WriteLine, StopOnSignals = false, GitDirectory = null });
        run.AddCallback(new Misbehaving(scenario));
        for (long step = 0; step < 100; step++)
        {
            run.Log(step, [("train_loss", 1.0 / (step + 1))]);
            run.Apply(step);
        }
        run.End();
        return 0;
    }

    /// <summary>Runs a scenario in a child process and returns its exit code.</summary>
    public static int RunChild(string scenario, string dir)
    {
        var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h
            : Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet" ? Environment.ProcessPath! : "dotnet";
        var info = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "exec", typeof(Program).Assembly.Location, scenario, dir }) info.ArgumentList.Add(a);
        info.Environment["DOTNET_DbgEnableMiniDump"] = "0";
        using var p = Process.Start(info) ?? throw new InvalidOperationException("could not start the child");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        // A guard against a hung child, not a timing assertion.
        if (!p.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"the {scenario} child did not end; stderr:\n{stderr.Result}");
        }
        _ = stdout.Result;
        _ = stderr.Result;
        return p.ExitCode;
    }

    private sealed class Misbehaving(string scenario) : IKilnCallback
    {
        public string Id => "misbehaving";

        public void Handle(string evt, KernelEnv env)
        {
            if (env.Step != 5) return;
            switch (scenario)
            {
                case "exit":
                    Environment.Exit(3);
                    break;
                case "overflow":
                    Deeper(0);
                    break;
                case "crash":
                    var thread = new Thread(() => throw new InvalidOperationException("boom on a thread of the callback's own"));
                    thread.Start();
                    thread.Join();
                    break;
            }
        }

        public void SetParams(JsonObject parameters)
        {
        }

        private static int Deeper(int depth) => Deeper(depth + 1) + 1;
    }
}
