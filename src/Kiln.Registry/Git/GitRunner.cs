using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace Kiln.Registry.Git;

/// <summary>What one git command printed and how it exited.</summary>
internal sealed record GitResult(int ExitCode, string Stdout, string Stderr)
{
    public bool Ok => ExitCode == 0;

    /// <summary>Stdout without its trailing newline.</summary>
    public string Line => Stdout.TrimEnd('\n', '\r');
}

/// <summary>
/// Runs <c>git</c> with an argument vector (never through a shell) and captures what it prints. Kiln.Execution's
/// <c>ChildProcess</c> is made for jobs (a process group of its own, output to log files, a stop protocol); a git
/// command is short, answers on its stdout and is waited for, so it gets this smaller runner.
/// <para>
/// Every command runs with <c>GIT_OPTIONAL_LOCKS=0</c>, so read-only commands (<c>status</c>, <c>diff</c>) never
/// refresh and rewrite the user's index behind their back, and without an inherited <c>GIT_INDEX_FILE</c>: the only
/// index other than the user's that Kiln uses is the temporary one it names itself.
/// </para>
/// </summary>
internal sealed class GitRunner
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    public GitRunner(string executable = "git", IReadOnlyDictionary<string, string?>? environment = null)
    {
        Executable = executable;
        Environment = environment ?? new Dictionary<string, string?>();
    }

    /// <summary>The runner Kiln uses: <c>git</c> from the PATH, with the process's own environment.</summary>
    public static GitRunner Default { get; } = new();

    public string Executable { get; }

    /// <summary>Variables set (or, when null, removed) for every command, on top of this process's environment.</summary>
    public IReadOnlyDictionary<string, string?> Environment { get; }

    private long _started;

    /// <summary>How many git processes this runner has started (the benchmark counts them per snapshot).</summary>
    public long Started => Interlocked.Read(ref _started);

    /// <summary>Told each command's arguments and its time, start to exit (the benchmark shows where a snapshot's time goes).</summary>
    public Action<IReadOnlyList<string>, TimeSpan>? Trace { get; set; }

    /// <summary>Runs git in <paramref name="directory"/>; a non-zero exit is returned, not thrown.</summary>
    public GitResult Run(string directory, IEnumerable<string> args, IReadOnlyDictionary<string, string?>? env = null, string? stdin = null)
    {
        if (!Directory.Exists(directory)) throw new GitException(GitFailure.Refused, $"no such folder: {directory}");
        var info = new ProcessStartInfo(Executable)
        {
            WorkingDirectory = directory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Utf8,
            StandardErrorEncoding = Utf8,
            StandardInputEncoding = Utf8,
            UseShellExecute = false,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment.Remove("GIT_INDEX_FILE");
        info.Environment["GIT_OPTIONAL_LOCKS"] = "0";
        info.Environment["GIT_TERMINAL_PROMPT"] = "0";
        foreach (var (k, v) in Environment) Set(info, k, v);
        if (env is not null) foreach (var (k, v) in env) Set(info, k, v);

        Process process;
        Interlocked.Increment(ref _started);
        var clock = Trace is null ? null : Stopwatch.StartNew();
        try
        {
            process = Process.Start(info) ?? throw new GitException(GitFailure.GitMissing, $"could not start {Executable}");
        }
        catch (Win32Exception ex)
        {
            throw new GitException(GitFailure.GitMissing,
                $"git is not installed (could not run `{Executable}`: {ex.Message}); kiln needs git for code snapshots", ex);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            try
            {
                // Closed either way: a command that would read its input gets end-of-file instead of waiting.
                if (stdin is not null) process.StandardInput.Write(stdin);
                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // git exited without reading its input; its exit code and stderr say why.
            }
            process.WaitForExit();
            if (clock is not null) Trace!(info.ArgumentList.ToArray(), clock.Elapsed);
            return new GitResult(process.ExitCode, stdout.GetAwaiter().GetResult(), stderr.GetAwaiter().GetResult());
        }
    }

    /// <summary>Runs git and returns its output; a non-zero exit throws a <see cref="GitException"/> carrying git's stderr.</summary>
    public GitResult Check(string directory, IReadOnlyList<string> args, IReadOnlyDictionary<string, string?>? env = null, string? stdin = null)
    {
        var result = Run(directory, args, env, stdin);
        if (!result.Ok) throw Failed(args, result);
        return result;
    }

    public static GitException Failed(IReadOnlyList<string> args, GitResult result)
    {
        var why = result.Stderr.Trim();
        if (why.Length == 0) why = result.Stdout.Trim();
        if (why.Length == 0) why = $"exit code {result.ExitCode}";
        return new GitException(GitFailure.Command, $"git {string.Join(' ', args.Take(2))} failed: {OneLine(why)}");
    }

    /// <summary>git's multi-line messages on one line, so an error reads as one.</summary>
    public static string OneLine(string text) =>
        string.Join(" ", text.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));

    private static void Set(ProcessStartInfo info, string key, string? value)
    {
        if (value is null) info.Environment.Remove(key);
        else info.Environment[key] = value;
    }
}
