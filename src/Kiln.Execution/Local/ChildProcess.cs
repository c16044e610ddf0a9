using System.Diagnostics;
using System.Globalization;
using Kiln.Execution.Jobs;
using Kiln.Runs;

namespace Kiln.Execution.Local;

/// <summary>
/// A job's process on this machine. It starts in a process group of its own (through <c>setsid</c>), so stopping it
/// reaches whatever it started too (a shell's children, a data loader's workers); it is told its runner's pid in
/// <see cref="StopSignals.ParentPidVariable"/> so it stops if the runner dies; its stdout and stderr go to
/// <c>stdout.log</c> and <c>stderr.log</c> in its log folder, and the last lines of stderr are kept to explain a failure
/// (a job without a log folder writes where this process writes).
/// </summary>
internal sealed class ChildProcess : IDisposable
{
    private const int TailLines = 5;
    private static readonly string? Setsid = new[] { "/usr/bin/setsid", "/bin/setsid" }.FirstOrDefault(File.Exists);

    private readonly Process _process;
    private readonly Task _logs;
    private readonly Queue<string> _tail = new();

    private ChildProcess(Process process, bool ownGroup, string? logFolder, string? echo)
    {
        _process = process;
        OwnGroup = ownGroup;
        Pid = process.Id;
        _logs = logFolder is null ? Task.CompletedTask : Task.WhenAll(
            Copy(process.StandardOutput, Path.Combine(logFolder, "stdout.log"), null, echo is null ? null : (echo, Console.Out)),
            Copy(process.StandardError, Path.Combine(logFolder, "stderr.log"), _tail, echo is null ? null : (echo, Console.Error)));
    }

    public int Pid { get; }

    /// <summary>Whether the process leads a group of its own (signals then reach its children too).</summary>
    public bool OwnGroup { get; }

    public static ChildProcess Start(JobSpec spec)
    {
        if (spec.Argv.Count == 0) throw new ArgumentException($"{spec.Name}: a job needs a program to run", nameof(spec));
        var ownGroup = Setsid is not null && !OperatingSystem.IsWindows();
        var argv = ownGroup ? [Setsid!, .. spec.Argv] : spec.Argv.ToList();
        var logged = spec.LogFolder is not null;
        var info = new ProcessStartInfo(argv[0])
        {
            RedirectStandardOutput = logged, RedirectStandardError = logged, RedirectStandardInput = true, UseShellExecute = false,
            WorkingDirectory = spec.WorkingDirectory ?? Directory.GetCurrentDirectory(),
        };
        foreach (var a in argv.Skip(1)) info.ArgumentList.Add(a);
        foreach (var (k, v) in spec.Env) info.Environment[k] = v;
        info.Environment[StopSignals.ParentPidVariable] = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        info.Environment["KILN_THREADS"] = spec.Threads.ToString(CultureInfo.InvariantCulture);
        if (spec.RunDirectory is { } runDir)
        {
            info.Environment[Kiln.Protocol.ChildEnv.RunDir] = Path.GetFullPath(runDir);
            Directory.CreateDirectory(runDir);
        }
        if (spec.LogFolder is { } logs) Directory.CreateDirectory(logs);
        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {argv[0]}");
        // A job reads no input: closing it means a program that asks for some gets end-of-file instead of hanging.
        process.StandardInput.Close();
        return new ChildProcess(process, ownGroup, spec.LogFolder, spec.EchoPrefix);
    }

    /// <summary>Sends a signal to the job (and, when it leads its own group, to everything it started).</summary>
    public void Signal(int signal)
    {
        if (_process.HasExited) return;
        if (OwnGroup) Processes.SignalGroup(Pid, signal);
        else Processes.Signal(Pid, signal);
    }

    /// <summary>Waits for the exit and for the logs to be written; returns the exit code.</summary>
    public async Task<int> WaitAsync()
    {
        await _process.WaitForExitAsync().ConfigureAwait(false);
        await _logs.ConfigureAwait(false);
        return _process.ExitCode;
    }

    /// <summary>The last lines the job wrote to stderr.</summary>
    public string Tail()
    {
        lock (_tail) return string.Join(" | ", _tail);
    }

    private static readonly Lock EchoGate = new();

    private static async Task Copy(StreamReader from, string path, Queue<string>? tail, (string Prefix, TextWriter To)? echo)
    {
        // Flushed line by line, so `tail -f` on a job's log shows it live.
        await using var to = new StreamWriter(path, append: false) { AutoFlush = true };
        while (await from.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            await to.WriteLineAsync(line).ConfigureAwait(false);
            if (echo is var (prefix, writer))
            {
                // Whole lines, one job's at a time: jobs running side by side never cut into each other's lines.
                lock (EchoGate)
                {
                    writer.WriteLine(prefix + line);
                    writer.Flush();
                }
            }
            if (tail is null) continue;
            lock (tail)
            {
                tail.Enqueue(line);
                if (tail.Count > TailLines) tail.Dequeue();
            }
        }
    }

    public void Dispose() => _process.Dispose();
}
