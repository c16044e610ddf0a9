using System.Diagnostics;
using Xunit;

namespace Kiln.Testing;

/// <summary>
/// The Slurm cluster the tests submit to: scripts/slurm-up.sh starts a single-node one on this machine (scripts/test.sh
/// does it before the tests). Where none answers, Slurm tests are skipped with the reason, never passed silently.
/// </summary>
public static class SlurmCluster
{
    private static readonly Lazy<string?> Why = new(Probe);

    /// <summary>Null when a cluster answers with a node that takes jobs, else why not.</summary>
    public static string? Unavailable => Why.Value;

    private static string? Probe()
    {
        try
        {
            var info = new ProcessStartInfo("sinfo") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { "-h", "-o", "%t" }) info.ArgumentList.Add(a);
            using var p = Process.Start(info)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) return $"sinfo exited with code {p.ExitCode}: {stderr.Trim()}";
            var states = stdout.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(s => s.Trim().TrimEnd('*')).ToList();
            return states.Any(s => s is "idle" or "mix" or "alloc") ? null : $"no node takes jobs (sinfo: {string.Join(' ', states)})";
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return $"sinfo cannot run: {ex.Message}";
        }
    }
}

/// <summary>A test that needs a Slurm cluster; skipped, saying why and how to get one, where none answers.</summary>
public sealed class SlurmFactAttribute : FactAttribute
{
    public SlurmFactAttribute()
    {
        if (SlurmCluster.Unavailable is { } why) Skip = $"needs a Slurm cluster (bash scripts/slurm-up.sh starts one on this machine, as root): {why}";
    }
}
