namespace Kiln.Registry.Git;

/// <summary>Why a git operation could not be done.</summary>
public enum GitFailure
{
    /// <summary>git itself failed or refused; the message carries its stderr.</summary>
    Command,
    /// <summary>The folder is not inside a git repository (or is a bare one).</summary>
    NotARepository,
    /// <summary>There is no <c>git</c> to run.</summary>
    GitMissing,
    /// <summary>Kiln refused: the operation would have clobbered work, or its input is wrong.</summary>
    Refused,
}

/// <summary>A git operation that could not be done; the message says why in one line (with git's own words when git failed).</summary>
public sealed class GitException : Exception
{
    public GitException(string message) : this(GitFailure.Command, message) { }

    public GitException(string message, Exception inner) : base(message, inner) { }

    public GitException(GitFailure failure, string message, Exception? inner = null) : base(message, inner) => Failure = failure;

    public GitException() { }

    public GitFailure Failure { get; }
}
