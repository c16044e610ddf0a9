namespace Kiln.Execution.Jobs;

/// <summary>Words as a POSIX shell reads them back: for commands shown to a user and for scripts a cluster runs.</summary>
public static class ShellWord
{
    /// <summary>The word unchanged when it has nothing a shell would interpret, else single-quoted.</summary>
    public static string Quote(string word) =>
        word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || c is '/' or '.' or '_' or '-' or '+' or '=' or ':' or ',' or '@')
            ? word
            : "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>A command line of quoted words.</summary>
    public static string Join(IEnumerable<string> words) => string.Join(' ', words.Select(Quote));
}
