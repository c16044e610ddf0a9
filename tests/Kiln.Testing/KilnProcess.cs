using System.Diagnostics;
using System.Reflection;

namespace Kiln.Testing;

/// <summary>Runs the real <c>kiln</c> executable: <c>$KILN_BIN</c> when set (a published build), else the one built with the tests.</summary>
public static class KilnProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
    }

    public static string Binary { get; } = Locate();

    private static string Locate()
    {
        var fromEnv = Environment.GetEnvironmentVariable("KILN_BIN");
        if (!string.IsNullOrEmpty(fromEnv)) return Path.GetFullPath(fromEnv);
        var built = typeof(KilnProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "KilnCli").Value!;
        return Path.GetFullPath(built);
    }

    public static Result Run(string workingDir, params string[] args) => Run(workingDir, TimeSpan.FromSeconds(120), null, args);

    public static Result Run(string workingDir, TimeSpan timeout, IDictionary<string, string>? env, params string[] args) =>
        RunWithInput(workingDir, "", timeout, env, args);

    /// <summary>Runs kiln with <paramref name="input"/> on its standard input (then end of file: a question nobody answers gets none).</summary>
    public static Result RunWithInput(string workingDir, string input, TimeSpan timeout, IDictionary<string, string>? env, params string[] args)
    {
        using var p = Start(workingDir, env, args);
        p.StandardInput.Write(input);
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"kiln {string.Join(' ', args)} did not finish within {timeout}");
        }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    public static Process Start(string workingDir, IDictionary<string, string>? env, params string[] args)
    {
        if (!File.Exists(Binary)) throw new FileNotFoundException($"the kiln executable is missing at {Binary}; build src/Kiln.Cli or set KILN_BIN");
        var info = new ProcessStartInfo(Binary)
        {
            WorkingDirectory = workingDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["NO_COLOR"] = "1";
        // A kiln a failed test leaves running stops when the test run ends, as it stops when any runner of its dies.
        info.Environment[Kiln.Runs.StopSignals.ParentPidVariable] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (env is not null) foreach (var (k, v) in env) info.Environment[k] = v;
        return Process.Start(info) ?? throw new InvalidOperationException("could not start kiln");
    }
}
