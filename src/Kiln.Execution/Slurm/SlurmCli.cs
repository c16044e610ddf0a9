using System.ComponentModel;
using System.Diagnostics;

namespace Kiln.Execution.Slurm;

/// <summary>
/// Slurm's command-line tools (<c>sbatch</c>, <c>squeue</c>, <c>sacct</c>, <c>scontrol</c>, <c>scancel</c>), run
/// as processes: they are the interface every Slurm site supports, whatever its version or plugins.
/// </summary>
public static class SlurmCli
{
    public sealed record Output(int ExitCode, string Stdout, string Stderr)
    {
        public bool Ok => ExitCode == 0;
    }

    /// <summary>Runs <paramref name="program"/>; a missing program is a <see cref="SlurmException"/> saying Slurm is not installed.</summary>
    public static Output Run(string program, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) info.Environment[k] = v;
        // Slurm's tools print times and states for people; a fixed locale keeps them parseable.
        info.Environment["LC_ALL"] = "C";
        Process process;
        try
        {
            process = Process.Start(info) ?? throw new SlurmException($"{program}: could not be started");
        }
        catch (Win32Exception ex)
        {
            throw new SlurmException($"{program}: {ex.Message} (is Slurm installed here? scripts/slurm-up.sh starts a local cluster)");
        }
        using (process)
        {
            process.StandardInput.Close();
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return new Output(process.ExitCode, stdout, stderr.GetAwaiter().GetResult());
        }
    }

    /// <summary>Runs it and returns its stdout; a non-zero exit is a <see cref="SlurmException"/> with the command and its stderr.</summary>
    public static string Check(string program, IReadOnlyList<string> args, IReadOnlyDictionary<string, string>? env = null)
    {
        var output = Run(program, args, env);
        if (!output.Ok)
        {
            var said = (output.Stderr.Trim().Length > 0 ? output.Stderr : output.Stdout).Trim().ReplaceLineEndings(" | ");
            throw new SlurmException($"{program} {string.Join(' ', args.Take(3))}{(args.Count > 3 ? " …" : "")} exited with code {output.ExitCode}: {said}");
        }
        return output.Stdout;
    }

    /// <summary>Null when a cluster answers here (<c>sinfo</c>), else why not — for tests and commands that need one.</summary>
    public static string? Unavailable()
    {
        try
        {
            var output = Run("sinfo", ["-h", "-o", "%t"]);
            if (!output.Ok) return $"sinfo exited with code {output.ExitCode}: {output.Stderr.Trim()}";
            return output.Stdout.Split('\n').Any(s => s.Trim() is "idle" or "mix" or "alloc" or "idle*" or "mix*" or "alloc*")
                ? null
                : $"no node is up (sinfo: {output.Stdout.Trim().ReplaceLineEndings(" ")})";
        }
        catch (SlurmException ex)
        {
            return ex.Message;
        }
    }

    /// <summary>Values of <c>scontrol show config</c> (<c>MaxArraySize</c>, <c>JobCompLoc</c>, …), read once per process.</summary>
    public static IReadOnlyDictionary<string, string> Config() => _config ??= ReadConfig();

    private static IReadOnlyDictionary<string, string>? _config;

    private static Dictionary<string, string> ReadConfig()
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in Check("scontrol", ["show", "config"]).Split('\n'))
        {
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) continue;
            values[line[..eq].Trim()] = line[(eq + 1)..].Trim();
        }
        return values;
    }
}
