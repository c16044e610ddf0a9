using System.Diagnostics;

namespace Kiln.Testing;

/// <summary>The git CLI as tests run it to set up real repositories: a fixed author, and a failure that names the command.</summary>
public static class GitCommand
{
    /// <summary>Runs git in <paramref name="dir"/>; returns its stdout without the trailing newline.</summary>
    public static string Run(string dir, params string[] args)
    {
        var info = new ProcessStartInfo("git") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["GIT_AUTHOR_NAME"] = info.Environment["GIT_COMMITTER_NAME"] = "tester";
        info.Environment["GIT_AUTHOR_EMAIL"] = info.Environment["GIT_COMMITTER_EMAIL"] = "tester@example.org";
        using var p = Process.Start(info) ?? throw new InvalidOperationException("could not start git");
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"git {string.Join(" ", args)}: {error}");
        return output.Result.TrimEnd('\n');
    }
}
