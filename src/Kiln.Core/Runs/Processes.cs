using System.Runtime.InteropServices;

namespace Kiln.Runs;

/// <summary>
/// The few POSIX process calls Kiln needs and .NET does not offer: signalling a process or its whole group, the
/// parent's pid, and whether a pid is alive. On other systems they fall back to what .NET offers.
/// </summary>
public static partial class Processes
{
    public const int SigHup = 1;
    public const int SigInt = 2;
    public const int SigKill = 9;
    public const int SigTerm = 15;

    /// <summary>Whether a process with this pid exists (a zombie counts as gone).</summary>
    public static bool IsAlive(int pid)
    {
        if (pid <= 0) return false;
        if (OperatingSystem.IsLinux())
        {
            try
            {
                // The state is the field after the command name, which is in parentheses and may hold spaces.
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var close = stat.LastIndexOf(')');
                return close > 0 && close + 2 < stat.Length && stat[close + 2] != 'Z' && stat[close + 2] != 'X';
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return false;
            }
        }
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Sends <paramref name="signal"/> to a process; false when it is gone.</summary>
    public static bool Signal(int pid, int signal)
    {
        if (pid <= 0) return false;
        if (!OperatingSystem.IsWindows()) return Kill(pid, signal) == 0;
        if (signal != SigKill && signal != SigTerm && signal != SigInt) return false;
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            p.Kill(entireProcessTree: true);
            return true;
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Sends <paramref name="signal"/> to every process of the group led by <paramref name="pgid"/>.</summary>
    public static bool SignalGroup(int pgid, int signal) =>
        pgid > 0 && (OperatingSystem.IsWindows() ? Signal(pgid, signal) : Kill(-pgid, signal) == 0);

    /// <summary>The parent's pid, or 0 where it cannot be known.</summary>
    public static int ParentId() => OperatingSystem.IsWindows() ? 0 : GetParentPid();

    /// <summary>The exit code a process stopped by <paramref name="signal"/> reports, as shells do: 128 + the signal.</summary>
    public static int ExitCodeFor(int signal) => 128 + signal;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int sig);

    [LibraryImport("libc", EntryPoint = "getppid")]
    private static partial int GetParentPid();
}
