using System.Diagnostics;
using System.Globalization;

namespace Kiln.Bench;

/// <summary>One whole-process run: wall time from start to exit, CPU time, and peak resident memory (max RSS).</summary>
internal readonly record struct ProcessRun(double Seconds, double CpuSeconds, double PeakRssMb);

/// <summary>
/// Runs programs as whole processes and measures them. The peak RSS and CPU time come from GNU time
/// (<c>/usr/bin/time</c>, Debian's <c>time</c>): only the parent's wait on the child sees them, and .NET's process
/// class keeps that wait to itself.
/// </summary>
internal static class ProcessRuns
{
    private const string GnuTime = "/usr/bin/time";

    public static bool CanMeasureMemory => File.Exists(GnuTime);

    /// <summary>Runs <paramref name="program"/> once; throws with its error output when it fails.</summary>
    public static ProcessRun Measure(string program, params string[] args)
    {
        var measured = CanMeasureMemory;
        var info = new ProcessStartInfo(measured ? GnuTime : program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (measured)
        {
            foreach (var a in new[] { "-f", "kiln-bench %e %U %S %M", program }) info.ArgumentList.Add(a);
        }
        foreach (var a in args) info.ArgumentList.Add(a);
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        var seconds = clock.Elapsed.TotalSeconds;
        stdout.Wait();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{program} exited {p.ExitCode}: {stderr.Trim()}");
        var line = stderr.Split('\n').LastOrDefault(l => l.StartsWith("kiln-bench ", StringComparison.Ordinal));
        if (line is null) return new ProcessRun(seconds, double.NaN, double.NaN);
        var f = line.Split(' ');
        double D(int i) => double.Parse(f[i], CultureInfo.InvariantCulture);
        return new ProcessRun(seconds, D(2) + D(3), D(4) / 1024);
    }
}
